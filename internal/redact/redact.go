// Package redact masks a secret (the API key, a personal value) in text the
// SDK puts into errors: raw, in the spellings a server echoes it in (JSON,
// HTML, URL or base64 encoded), and inside JSON string literals in any
// escaping at all ("\u0073k-…" decodes to "sk-…").
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Mask replaces every occurrence of the secret.
const Mask = "[REDACTED]"

// Secret masks one secret. Its zero value and nil mask nothing.
type Secret struct {
	raw      string
	variants []string // raw first, then escaped spellings
}

// New returns a masker of secret. fmt prints a *Secret as an address only:
// its fields are unexported and it has no String method that shows them.
func New(secret string) *Secret {
	if secret == "" {
		return &Secret{}
	}
	s := &Secret{raw: secret}
	seen := map[string]bool{}
	for _, v := range spellings(secret) {
		if v != "" && !seen[v] {
			seen[v] = true
			s.variants = append(s.variants, v)
		}
	}
	return s
}

// Format prints the masker without its secret, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "redact.Secret{"+Mask+"}")
}

func spellings(secret string) []string {
	jsonEscaped, _ := json.Marshal(secret) // escapes <, >, & as \u003c…
	inner := strings.TrimSuffix(strings.TrimPrefix(string(jsonEscaped), `"`), `"`)
	return append([]string{
		secret,
		inner,
		strings.ReplaceAll(inner, "/", `\/`),
		html.EscapeString(secret),
		url.QueryEscape(secret),
		url.PathEscape(secret),
	}, base64Spellings(secret)...)
}

// minBase64 is the shortest base64 run masked: shorter runs would match
// ordinary words by chance.
const minBase64 = 8

// base64Spellings returns the secret in standard and URL-safe base64,
// padded and raw, and the runs that spell it inside a longer encoded text
// ("Bearer <key>" in base64) at each of the three byte alignments: the
// characters that encode only the secret's bytes.
func base64Spellings(secret string) []string {
	var out []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(secret)), enc.WithPadding(base64.NoPadding).EncodeToString([]byte(secret)))
		for shift := 1; shift <= 2; shift++ {
			text := enc.EncodeToString(append(make([]byte, shift), secret...))
			end := (shift + len(secret)) / 3 * 4 // complete groups only
			if end-4 >= minBase64 {
				out = append(out, text[4:end]) // the first group holds a foreign byte
			}
		}
		if aligned := len(secret) / 3 * 4; aligned >= minBase64 {
			out = append(out, enc.EncodeToString([]byte(secret))[:aligned])
		}
	}
	return out
}

// Reach is the longest spelling of a secret of n bytes the redactor can
// recognise: four layers of HTML entities spell a byte in up to 18
// characters ("&amp;amp;amp;#115;"), with room to spare. A text cut for
// keeping must be read this far past the cut, so that a spelling that
// straddles the cut is seen whole before the cut hides it.
func Reach(n int) int { return 32*n + 16 }

// Reach is Reach of the secret's length.
func (s *Secret) Reach() int {
	if s == nil {
		return 0
	}
	return Reach(len(s.raw))
}

// String returns v with every spelling of the secret masked.
func (s *Secret) String(v string) string {
	if s == nil || s.raw == "" || v == "" {
		return v
	}
	return string(s.Bytes([]byte(v), false))
}

// Bytes returns b with every spelling of the secret masked, in a copy when
// anything changed. truncated says b is the start of a longer text: a
// secret cut at the end would survive as a prefix, so an unterminated JSON
// string at the end and a trailing prefix of a spelling are cut off.
func (s *Secret) Bytes(b []byte, truncated bool) []byte {
	if s == nil || s.raw == "" {
		return b
	}
	b = s.maskLiterals(b, truncated)
	for _, v := range s.variants {
		if bytes.Contains(b, []byte(v)) {
			b = bytes.ReplaceAll(b, []byte(v), []byte(Mask))
		}
	}
	if truncated {
		b = s.cutPartial(b)
	}
	return b
}

// maskLiterals decodes every JSON string literal that holds an escape and
// re-encodes, masked, those whose text holds the secret.
func (s *Secret) maskLiterals(b []byte, truncated bool) []byte {
	var out []byte // nil until something changes
	last := 0      // b[:last] is settled (copied to out when out != nil)
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end, escaped := literalEnd(b, i)
		if end < 0 { // unterminated: only a cut text is shortened
			if truncated {
				out = append(settle(out, b, last, i), `"`...)
				last = len(b)
			}
			break
		}
		if escaped {
			if masked, ok := s.maskLiteral(b[i : end+1]); ok {
				out = append(settle(out, b, last, i), masked...)
				last = end + 1
			}
		}
		i = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// settle copies b[last:upto] to out, starting out as a copy of b[:last].
func settle(out, b []byte, last, upto int) []byte {
	if out == nil {
		out = append(make([]byte, 0, len(b)), b[:last]...)
	}
	return append(out, b[last:upto]...)
}

// literalEnd returns the index of the quote closing the literal opened at
// b[start], or -1, and whether the literal holds a backslash.
func literalEnd(b []byte, start int) (int, bool) {
	escaped := false
	for j := start + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}

func (s *Secret) maskLiteral(lit []byte) ([]byte, bool) {
	var text string
	if json.Unmarshal(lit, &text) != nil || !strings.Contains(text, s.raw) {
		return nil, false
	}
	masked, err := json.Marshal(strings.ReplaceAll(text, s.raw, Mask))
	return masked, err == nil
}

// cutPartial removes a trailing proper prefix of any spelling of the secret.
func (s *Secret) cutPartial(b []byte) []byte {
	for _, v := range s.variants {
		for n := min(len(v)-1, len(b)); n > 0; n-- {
			if bytes.HasSuffix(b, []byte(v[:n])) {
				b = b[:len(b)-n]
				break
			}
		}
	}
	return b
}

// decodeDepth is how many layers of encoding Leaks peels off.
const decodeDepth = 5

// Leaks reports whether text still reveals the secret once decoded: up to
// five layers of HTML entities, JSON or Go escapes (\uXXXX, \/) and URL
// escapes, in any order. Callers withhold text that leaks rather than
// trying to mask a spelling they do not know.
func (s *Secret) Leaks(text string) bool { return AnyLeaks(text, s) }

// AnyLeaks reports whether text reveals any of the secrets once decoded, as
// Leaks does; the layers are decoded once for all of them.
func AnyLeaks(text string, secrets ...*Secret) bool {
	revealed := func(t string) bool {
		for _, s := range secrets {
			if s != nil && s.raw != "" && strings.Contains(t, s.raw) {
				return true
			}
		}
		return false
	}
	layer := []string{text}
	for range decodeDepth {
		seen := map[string]bool{}
		var next []string
		for _, t := range layer {
			if revealed(t) {
				return true
			}
			for _, decode := range decoders {
				if d := decode(t); d != t && !seen[d] {
					seen[d] = true
					next = append(next, d)
				}
			}
		}
		layer = next
	}
	for _, t := range layer {
		if revealed(t) {
			return true
		}
	}
	return false
}

var decoders = []func(string) string{
	html.UnescapeString,
	unescapeBackslashes,
	func(s string) string {
		if u, err := url.QueryUnescape(s); err == nil {
			return u
		}
		return s
	},
}

// unescapeBackslashes decodes JSON-style escapes wherever they appear, in
// or out of string literals; an invalid escape is left as it is.
func unescapeBackslashes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if r, n := decodeEscape(s[i+1:]); n > 0 {
			b.WriteRune(r)
			i += n
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeEscape decodes the escape after a backslash: the rune and how many
// bytes it took, or 0 bytes when it is not an escape.
func decodeEscape(s string) (rune, int) {
	if simple, ok := map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[s[0]]; ok {
		return simple, 1
	}
	if s[0] == 'u' && len(s) >= 5 {
		if v, err := strconv.ParseUint(s[1:5], 16, 32); err == nil {
			return rune(v), 5
		}
	}
	return 0, 0
}

// MinBlob is the shortest run of base64 characters that Blobs withholds:
// longer than any hash, id or token an error message quotes (a
// transaction hash is 64 hex digits), far shorter than an image.
const MinBlob = 128

// Blob replaces a run of base64 text in an error: an echoed image.
const Blob = "[base64 withheld]"

// Blobs replaces every run of at least MinBlob base64 characters (either
// alphabet, with padding and JSON's \/ escape) with Blob: a server that
// echoes a request echoes its images, which no error or log may carry.
// When b is cut (truncated), a run at its end is replaced from a quarter of
// that length: it may be the start of an image.
func Blobs(b []byte, truncated bool) []byte {
	var out []byte // nil until something changes
	last := 0
	for i := 0; i < len(b); {
		if !isBase64Char(b, i) {
			i++
			continue
		}
		end := i
		for end < len(b) && isBase64Char(b, end) {
			end += base64CharLen(b, end)
		}
		if end-i >= MinBlob || truncated && end == len(b) && end-i >= MinBlob/4 {
			out = append(settle(out, b, last, i), Blob...)
			last = end
		}
		i = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isBase64Char(b []byte, i int) bool {
	c := b[i]
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '+' || c == '/' || c == '=' || c == '-' || c == '_':
		return true
	}
	return c == '\\' && i+1 < len(b) && b[i+1] == '/'
}

func base64CharLen(b []byte, i int) int {
	if b[i] == '\\' {
		return 2
	}
	return 1
}
