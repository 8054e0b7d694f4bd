package iso3166

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTableIsComplete(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 249, Count(), "ISO 3166-1 assigns 249 codes")
	assert.Len(t, numeric, 249, "every numeric code is distinct")
	fields := strings.Fields(table)
	for i := 1; i < len(fields); i++ {
		assert.Less(t, fields[i-1], fields[i], "table stays sorted")
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code  string
		alpha bool
		num   bool
	}{
		{"TWN", true, false}, {"USA", true, false}, {"XKX", true, false}, {"ALA", true, false},
		{"twn", false, false}, {"TW", false, false}, {"XXX", false, false}, {"", false, false},
		{"158", false, true}, {"004", false, true}, {"4", false, false}, {"999", false, false},
	} {
		t.Run(fmt.Sprintf("%q", tc.code), func(t *testing.T) {
			assert.Equal(t, tc.alpha, IsAlpha3(tc.code), "IsAlpha3(%q)", tc.code)
			assert.Equal(t, tc.num, IsNumeric(tc.code), "IsNumeric(%q)", tc.code)
		})
	}
}
