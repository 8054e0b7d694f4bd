package unorm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The full check against golang.org/x/text lives in gen/ (a module of its
// own); these cases keep the root module's tests honest without it.
func TestNFD(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Zelda", "Zelda"},
		{"José", "Jose\u0301"},
		{"Jose\u0301", "Jose\u0301"},
		{"Nguyễn", "Nguye\u0302\u0303n"},
		{"Ǖ", "U\u0308\u0304"}, // a decomposition that decomposes again
		{"한", "\u1112\u1161\u11ab"},
		{"가", "\u1100\u1161"},              // no trailing consonant
		{"a\u0301\u0323", "a\u0323\u0301"}, // dot below (220) before acute (230)
		{"Å", "A\u030a"},                   // the ångström sign is canonically Å
		{"\xff", "\ufffd"},
	} {
		assert.Equal(t, tc.want, NFD(tc.in), "%+q", tc.in)
	}
}

func TestCombiningClass(t *testing.T) {
	t.Parallel()
	assert.Equal(t, uint8(0), CombiningClass('a'))
	assert.Equal(t, uint8(230), CombiningClass('\u0301'))
	assert.Equal(t, uint8(220), CombiningClass('\u0323'))
	assert.Equal(t, uint8(9), CombiningClass('\u094d')) // virama
	assert.Equal(t, uint8(0), CombiningClass(0x10FFFF))
}
