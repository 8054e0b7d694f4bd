// Package redact masks a secret (the API key) in text the SDK puts into
// errors: raw, in the spellings a server echoes it in (JSON, HTML or URL
// escaped), and inside JSON string literals in any escaping at all
// ("\u0073k-…" decodes to "sk-…").
package redact

import (
	"bytes"
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
	return []string{
		secret,
		inner,
		strings.ReplaceAll(inner, "/", `\/`),
		html.EscapeString(secret),
		url.QueryEscape(secret),
		url.PathEscape(secret),
	}
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

// Leaks reports whether text still reveals the secret once decoded: up to
// three layers of HTML entities, JSON or Go escapes (\uXXXX, \/) and URL
// escapes, in any order. Callers withhold text that leaks rather than
// trying to mask a spelling they do not know.
func (s *Secret) Leaks(text string) bool {
	if s == nil || s.raw == "" {
		return false
	}
	layer := []string{text}
	for range 3 {
		var next []string
		for _, t := range layer {
			if strings.Contains(t, s.raw) {
				return true
			}
			for _, decode := range decoders {
				if d := decode(t); d != t {
					next = append(next, d)
				}
			}
		}
		layer = next
	}
	for _, t := range layer {
		if strings.Contains(t, s.raw) {
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
