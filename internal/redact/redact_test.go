package redact

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestPlain: a text Plain accepts is one masking leaves as it is (String,
// Blobs) and Leaks finds nothing in; any spelling of a secret, escape,
// literal, white space or long text is left to them.
func TestPlain(t *testing.T) {
	t.Parallel()
	const key = "kg_live_0123456789abcdefABCDEF"
	m := New(key, "Renée Dupont", "1985-01-31", "A123456789")
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	for _, tc := range []struct {
		name, text string
		plain      bool
	}{
		{"UUID", "5f0c6a2e-8a4b-4d0e-9b1f-2c3d4e5f6a7b", true},
		{"the fake's id", "kryptogotest-12", true},
		{"Cf-Ray", "8a1b2c3d4e5f6a7b-TPE", true},
		{"empty", "", true},
		{"the key", "req-" + key, false},
		{"the key upper-cased", strings.ToUpper(key), false},
		{"the key in base64", b64, false},
		{"the key in hex", fmt.Sprintf("%x", key), false},
		{"an ID number", "id-a123456789", false},
		{"a date spelling", "1985/01/31", false},
		{"a URL escape", "a%2Fb", false},
		{"a plus", "a+b", false},
		{"an entity", "a&amp;b", false},
		{"a backslash", `a\u0041`, false},
		{"a quote", `a"b`, false},
		{"a space", "a b", false},
		{"non-ASCII", "réq", false},
		{"MinBlob long", strings.Repeat("a", MinBlob), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.plain, m.Plain(tc.text))
			if m.Plain(tc.text) {
				assert.Equal(t, tc.text, m.String(tc.text))
				assert.Equal(t, tc.text, string(Blobs([]byte(tc.text), false)))
				assert.False(t, m.Leaks(tc.text))
			}
		})
	}
	t.Run("an empty value withholds everything", func(t *testing.T) {
		assert.False(t, (&Matcher{raws: [][]byte{{}}}).Plain("abc"))
	})
	t.Run("mixed pieces", func(t *testing.T) {
		pieces := []string{key[:6], key[6:], strings.ToUpper(key[:10]), b64[:12], b64[12:], "-", "_", ".", ":", "req", "0", "Zz", "1985", "01", "31", "a1234", "56789"}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 3000 {
			var sb strings.Builder
			for range 1 + rng.IntN(6) {
				sb.WriteString(pieces[rng.IntN(len(pieces))])
			}
			text := sb.String()
			if m.Plain(text) {
				require.Equal(t, text, m.String(text), text)
				require.False(t, m.Leaks(text), text)
			}
		}
	})
}
