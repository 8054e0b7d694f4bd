package redact

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const secret = "sk/live&7f3a<9c>1e"

func TestBytes(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, tc := range []struct {
		name, in, want string
		truncated      bool
	}{
		{"absent", `{"message":"fine"}`, `{"message":"fine"}`, false},
		{"raw", "key " + secret + " here", "key " + Mask + " here", false},
		{"JSON escaped", `{"m":"sk/live\u00267f3a\u003c9c\u003e1e"}`, `{"m":"` + Mask + `"}`, false},
		{"slash escaped", `{"m":"sk\/live\u00267f3a\u003c9c\u003e1e"}`, `{"m":"` + Mask + `"}`, false},
		{"every char escaped", `{"m":"a \u0073\u006b/live&7f3a<9c>1e b"}`, `{"m":"a ` + Mask + ` b"}`, false},
		{"HTML escaped", "<p>sk/live&amp;7f3a&lt;9c&gt;1e</p>", "<p>" + Mask + "</p>", false},
		{"URL escaped", "?k=sk%2Flive%267f3a%3C9c%3E1e", "?k=" + Mask, false},
		{"cut raw prefix", "tail sk/live&7f", "tail ", true},
		{"cut raw prefix kept when whole", "tail sk/live&7f", "tail sk/live&7f", false},
		{"cut unterminated literal", `{"m":"\u0073k/li`, `{"m":"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(s.Bytes([]byte(tc.in), tc.truncated)))
		})
	}
}

func TestBase64Spellings(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		for _, prefix := range []string{"", "B", "Be", "Bearer "} {
			text := "token " + enc.EncodeToString([]byte(prefix+secret)) + " end"
			out := string(s.Bytes([]byte(text), false))
			assert.Contains(t, out, Mask, "%q", text)
			decoded, _ := enc.DecodeString(strings.Fields(out)[1])
			assert.NotContains(t, string(decoded), secret[3:len(secret)-3], "%q", out)
		}
	}
}

func TestReachCoversNestedEntities(t *testing.T) {
	t.Parallel()
	var nested strings.Builder
	for _, r := range secret {
		fmt.Fprintf(&nested, "&amp;amp;amp;#%d;", r)
	}
	assert.LessOrEqual(t, nested.Len(), New(secret).Reach())
	assert.True(t, New(secret).Leaks(nested.String()), "four layers of entities")
}

func TestLeaks(t *testing.T) {
	t.Parallel()
	s := New(secret)
	assert.False(t, s.Leaks("nothing here"))
	assert.True(t, s.Leaks("&#115;k/live&amp;7f3a&lt;9c&gt;1e"), "numeric entities")
	assert.True(t, s.Leaks(`\u0073k/live\u00267f3a\u003c9c\u003e1e`), "escapes outside a literal")
	assert.True(t, s.Leaks("sk%2Flive%267f3a%3C9c%3E1e"), "URL escaped")
	assert.False(t, New("").Leaks(secret))
}

func TestSecretPrintsNoSecret(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.NotContains(t, fmt.Sprintf(verb, s), "7f3a", verb)
		assert.NotContains(t, fmt.Sprintf(verb, *s), "7f3a", verb)
	}
}

// The values of the matcher tests: a key, a name whose composed and
// decomposed forms differ, a birthday.
const (
	fuzzName     = "Renée Zoë"
	fuzzBirthday = "1985-01-31"
)

// FuzzBytes: whatever the text, the masked result holds none of the
// secrets in any letter case or normal form, nor the birthday in its
// common spellings; and Blobs leaves no run of MinBlob base64 characters.
func FuzzBytes(f *testing.F) {
	f.Add([]byte(`{"m":"\u0073k/live\u00267f3a\u003c9c\u003e1e"}`), false)
	f.Add([]byte("x sk/live&7f3a<9c>1e"), true)
	f.Add([]byte(`"\"`), true)
	f.Add([]byte("RENE\u0301E ZOE\u0308 31/01/1985 19850131"), false)
	f.Add([]byte("Rene\u0301e Zoe\u0308"), true)
	f.Add([]byte("c2svbGl2ZSY3ZjNh\r\nPDljPjFl %2B%2F%3D"), false)
	m := New(secret, fuzzName, fuzzBirthday)
	raws := []string{secret, fuzzName, fuzzBirthday, "1985/01/31", "31/01/1985", "19850131", "January 31, 1985"}
	f.Fuzz(func(t *testing.T, text []byte, truncated bool) {
		out := m.Bytes(text, truncated)
		folded := fold(string(out))
		for _, raw := range raws {
			if strings.Contains(folded, fold(raw)) {
				t.Fatalf("%q survives in %q", raw, out)
			}
		}
		blobbed := Blobs(out, truncated)
		run := 0
		for i := range blobbed {
			if base64CharLen(blobbed, i) == 1 {
				run++
			} else {
				run = 0
			}
			if run >= MinBlob {
				t.Fatalf("a run of %d base64 characters survives Blobs in %q", run, blobbed)
			}
		}
	})
}
