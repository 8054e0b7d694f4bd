// Package redact masks secrets (the API key, personal values) in text the
// SDK puts into errors and logs, by meaning rather than by spelling: in any
// letter case, composed or decomposed (Unicode NFC/NFD), JSON, HTML or URL
// escaped, a date in its common formats, the key in hex, any secret in
// base64 (standard or URL-safe, inside a longer encoded text, wrapped in
// lines or URL-escaped), and inside JSON string literals in any escaping.
//
// A Matcher is built once for a set of secrets (one call of the SDK) and
// then masks any number of texts.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mask replaces every occurrence of a secret.
const Mask = "[REDACTED]"

// Matcher masks a set of secrets. Its zero value and nil mask nothing.
type Matcher struct {
	text  needles  // spellings, folded (see fold), sought in the text view
	b64   needles  // base64 runs, sought as they are in the base64 view
	raws  [][]byte // the values, folded, sought by Leaks
	reach int
}

// New returns a matcher of key (also masked in hex) and of the personal
// values (a date also in its other common formats), each without the white
// space around it. Empty values are ignored; the caller decides which
// values are long enough to mask.
func New(key string, personal ...string) *Matcher {
	m := &Matcher{}
	seen := map[string]bool{}
	addText := func(spelling string) {
		if f := fold(spelling); f != "" && !seen[f] {
			seen[f] = true
			m.text.add(f)
		}
	}
	addB64 := func(run string) {
		if !seen["b64:"+run] {
			seen["b64:"+run] = true
			m.b64.add(run)
		}
	}
	add := func(v string, extra []string) {
		v = strings.TrimSpace(v) // a server trims what it echoes
		if v == "" {
			return
		}
		m.reach = max(m.reach, Reach(len(v)))
		m.raws = append(m.raws, []byte(fold(v)))
		for _, form := range forms(v) {
			for _, s := range escapings(form) {
				addText(s)
			}
			for _, run := range base64Spellings(form) {
				addB64(run)
			}
		}
		for _, s := range extra {
			m.raws = append(m.raws, []byte(fold(s)))
			addText(s)
			addText(url.QueryEscape(s))
		}
	}
	if key != "" {
		add(key, []string{hex.EncodeToString([]byte(key))})
	}
	for _, v := range personal {
		add(v, dateSpellings(v))
	}
	return m
}

// Format prints the matcher without its secrets, whatever the verb.
func (m Matcher) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "redact.Matcher{"+Mask+"}")
}

// forms returns v as given and decomposed (NFD), without repeats: an
// escaping of a composed value is not one of its decomposed form.
func forms(v string) []string {
	if d := nfd(v); d != v {
		return []string{v, d}
	}
	return []string{v}
}

// escapings returns the spellings of v in the escapes a server echoes a
// value in: JSON (which escapes <, > and & as \u003c…, and / as \/ when
// asked), HTML and URL.
func escapings(v string) []string {
	jsonEscaped, _ := json.Marshal(v)
	inner := strings.TrimSuffix(strings.TrimPrefix(string(jsonEscaped), `"`), `"`)
	return []string{v, inner, strings.ReplaceAll(inner, "/", `\/`), html.EscapeString(v), url.QueryEscape(v), url.PathEscape(v)}
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

// Reach is the reach of the longest secret masked.
func (m *Matcher) Reach() int {
	if m == nil {
		return 0
	}
	return m.reach
}

func (m *Matcher) empty() bool { return m == nil || len(m.raws) == 0 }

// String returns v with every spelling of the secrets masked.
func (m *Matcher) String(v string) string {
	if m.empty() || v == "" {
		return v
	}
	return string(m.Bytes([]byte(v), false))
}

// Bytes returns b with every spelling of the secrets masked, in a copy
// when anything changed. truncated says b is the start of a longer text: a
// secret cut at the end would survive as a prefix, so an unterminated JSON
// string at the end and a trailing prefix of a spelling are cut off.
func (m *Matcher) Bytes(b []byte, truncated bool) []byte {
	if m.empty() {
		return b
	}
	b = rewriteLiterals(b, truncated, 0, m.maskText)
	masked, tv, bv, changed := m.maskSpellings(b)
	if !truncated {
		return masked
	}
	if changed { // the views of b are not those of masked
		tv, bv = textView(masked, false), base64View(masked, false)
	}
	return masked[:min(m.text.cut(masked, &tv, textView), m.b64.cut(masked, &bv, base64View))]
}

// maskSpellings replaces every span of b that spells a secret: a folded
// spelling in the text view, a base64 run in the base64 view. It returns
// the views of b, untracked, too, and whether anything was masked.
func (m *Matcher) maskSpellings(b []byte) ([]byte, view, view, bool) {
	tv, bv := textView(b, false), base64View(b, false)
	spans := m.b64.find(b, &bv, base64View, m.text.find(b, &tv, textView, nil))
	if len(spans) == 0 {
		return b, tv, bv, false
	}
	return replaceSpans(b, spans, Mask), tv, bv, true
}

// replaceSpans returns b with each of spans, merged where they overlap,
// replaced by with.
func replaceSpans(b []byte, spans []span, with string) []byte {
	slices.SortFunc(spans, func(x, y span) int { return int(x.start) - int(y.start) })
	out := make([]byte, 0, len(b))
	last := 0
	for i := 0; i < len(spans); {
		s := spans[i]
		for i++; i < len(spans) && int(spans[i].start) < int(s.end); i++ {
			s.end = max(s.end, spans[i].end)
		}
		out = append(append(out, b[last:s.start]...), with...)
		last = int(s.end)
	}
	return append(out, b[last:]...)
}

// rewriteLiterals decodes every JSON string literal of b that holds an
// escape and is at least minLen bytes long, and re-encodes those whose
// text rewrite changes. truncated says b is cut: an unterminated literal
// at its end is cut off.
func rewriteLiterals(b []byte, truncated bool, minLen int, rewrite func(text []byte) ([]byte, bool)) []byte {
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
		if escaped && end+1-i >= minLen {
			if masked, ok := rewriteLiteral(b[i:end+1], rewrite); ok {
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

// rewriteLiteral decodes the JSON string literal lit and, when rewrite
// changes its text, returns the literal of the new text.
func rewriteLiteral(lit []byte, rewrite func(text []byte) ([]byte, bool)) ([]byte, bool) {
	var text string
	if json.Unmarshal(lit, &text) != nil {
		return nil, false
	}
	rewritten, changed := rewrite([]byte(text))
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(string(rewritten))
	return out, err == nil
}

// maskText masks the spellings in text, and reports whether any was.
func (m *Matcher) maskText(text []byte) ([]byte, bool) {
	masked, _, _, changed := m.maskSpellings(text)
	return masked, changed
}

// Plain reports whether text is a short plain token that holds no secret:
// printable ASCII shorter than MinBlob, without the characters that open
// a JSON literal or an escape (" \ & % +), in whose views no spelling of a
// secret occurs. Such a text is what String returns for it, Blobs leaves
// it whole, and Leaks finds nothing in it (no escape to decode, and every
// folded value Leaks seeks is a spelling String seeks): a caller keeps it
// as it is, without the copies masking makes. A request id is one.
func (m *Matcher) Plain(text string) bool {
	if len(text) >= MinBlob {
		return false
	}
	for i := 0; i < len(text); i++ {
		if c := text[i]; c <= ' ' || c > '~' || strings.IndexByte(`"\&%+`, c) >= 0 {
			return false
		}
	}
	if m.empty() {
		return true
	}
	for _, raw := range m.raws {
		if len(raw) == 0 { // Leaks finds an empty value in any text
			return false
		}
	}
	b := []byte(text)
	tv, bv := textView(b, false), base64View(b, false)
	none := func(int, []byte) bool { return false }
	return !m.text.each(&tv, none) && !m.b64.each(&bv, none)
}

// decodeDepth is how many layers of encoding Leaks peels off.
const decodeDepth = 5

// Leaks reports whether text still reveals a secret once decoded: up to
// five layers of HTML entities, JSON or Go escapes (\uXXXX, \/) and URL
// escapes, in any order, compared in any letter case and decomposed.
// Callers withhold text that leaks rather than trying to mask a spelling
// they do not know.
func (m *Matcher) Leaks(text string) bool {
	if m.empty() {
		return false
	}
	revealed := func(t string) bool {
		f := textView([]byte(t), false).text
		for _, raw := range m.raws {
			if bytes.Contains(f, raw) {
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
	return slices.ContainsFunc(layer, revealed)
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

// simpleEscapes are the one-letter escapes of JSON.
var simpleEscapes = map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// decodeEscape decodes the escape after a backslash: the rune and how many
// bytes it took, or 0 bytes when it is not an escape. A surrogate pair
// (\ud83d\ude00) is one rune.
func decodeEscape(s string) (rune, int) {
	if simple, ok := simpleEscapes[s[0]]; ok {
		return simple, 1
	}
	if s[0] != 'u' || len(s) < 5 {
		return 0, 0
	}
	v, err := strconv.ParseUint(s[1:5], 16, 32)
	if err != nil {
		return 0, 0
	}
	if r := rune(v); utf16.IsSurrogate(r) && len(s) >= 11 && s[5] == '\\' && s[6] == 'u' {
		if low, err := strconv.ParseUint(s[7:11], 16, 32); err == nil {
			if pair := utf16.DecodeRune(r, rune(low)); pair != utf8.RuneError {
				return pair, 11
			}
		}
	}
	return rune(v), 5
}

// Fold returns s as the matcher reads it, trimmed: decomposed (NFD),
// case-folded, full-width forms as ASCII, JSON escapes and HTML character
// references read, each run of white space one space. Two texts that fold
// alike mean the same (a name composed or decomposed, in any case).
func Fold(s string) string { return strings.TrimSpace(fold(s)) }
