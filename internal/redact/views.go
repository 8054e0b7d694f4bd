package redact

import (
	"bytes"
	"html"
	"unicode"
	"unicode/utf8"

	"github.com/kyabc/kryptogo-go/internal/unorm"
)

// A text is searched in two views, each a rewriting of it that makes many
// spellings of a secret one: the text view, decomposed (NFD) and folded to
// one letter case, for the values and their escapings; and the base64
// view, without the line breaks, white space and escapes that wrap or
// escape a base64 text, for the base64 runs. A match in a view masks the
// part of the original it came from.

// span is a range of the original text, [start, end).
type span struct{ start, end int32 }

// view is a text rewritten for searching, and the span of the original
// each of its bytes came from. Finding where a match came from is needed
// only when there is a match, which is rare: a view is first built
// untracked (text only), and built again, tracked, when a needle is found.
type view struct {
	text []byte
	from []span // nil when text[i] came from the original's byte i
	n    int    // the original's length
}

// viewOf builds a view of b, tracking where its bytes came from or not.
type viewOf func(b []byte, track bool) view

func (v *view) origin(i int) span {
	if v.from == nil {
		return span{int32(i), int32(i + 1)}
	}
	return v.from[i]
}

// match is the part of the original that a needle of n bytes found at
// byte i of the view came from.
func (v *view) match(i, n int) span {
	return span{v.origin(i).start, v.origin(i + n - 1).end}
}

// prefixStart returns where, in the view, a proper prefix of needle ends
// the text, or len(text) when none does.
func (v *view) prefixStart(needle []byte) int {
	for n := min(len(needle)-1, len(v.text)); n > 0; n-- {
		if bytes.HasSuffix(v.text, needle[:n]) {
			return len(v.text) - n
		}
	}
	return len(v.text)
}

// fold returns s as the text view sees it.
func fold(s string) string { return string(textView([]byte(s), false).text) }

// nfd returns s decomposed.
func nfd(s string) string { return unorm.NFD(s) }

// textView returns b decomposed (NFD, canonically ordered) and case-folded,
// with its JSON escapes (\u00e9, \/) and HTML character references
// (&eacute;, &#233;) read as the characters they stand for. A character
// and the combining marks that follow it are one unit: every byte of their
// rewriting comes from the whole unit.
func textView(b []byte, track bool) view {
	if isPlainASCII(b) {
		t := make([]byte, len(b))
		for i, c := range b {
			t[i] = foldASCII(c)
		}
		return view{text: t, n: len(b)}
	}
	vb := newViewBuilder(len(b)+len(b)/4, track)
	var unit, scratch []rune
	unitStart := 0
	flush := func(end int) {
		unorm.Order(unit)
		for _, r := range unit {
			vb.appendRune(r, unitStart, end)
		}
		unit = unit[:0]
	}
	for i := 0; i < len(b); {
		if c := b[i]; plainByte(c) && (i+1 == len(b) || b[i+1] < utf8.RuneSelf && b[i+1] != '\\' && b[i+1] != '&') {
			flush(i) // an ASCII character no combining mark follows is a unit
			vb.appendByte(foldASCII(c), i, i+1)
			i++
			unitStart = i
			continue
		}
		r, size := readChar(b, i)
		scratch = appendFolded(scratch[:0], r)
		if i > unitStart && unorm.CombiningClass(scratch[0]) == 0 { // a starter begins a unit
			flush(i)
			unitStart = i
		}
		unit = append(unit, scratch...)
		i += size
	}
	flush(len(b))
	return vb.view(len(b))
}

// plainByte reports an ASCII byte that is not the start of an escape.
func plainByte(c byte) bool { return c < utf8.RuneSelf && c != '\\' && c != '&' }

// isPlainASCII reports a text of plainByte only: its own view, folded.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if !plainByte(c) {
			return false
		}
	}
	return true
}

// maxReference is the longest HTML character reference read.
const maxReference = 32

// readChar reads the character at b[i]: a JSON escape, an HTML character
// reference, or a rune as it is; and how many bytes it takes.
func readChar(b []byte, i int) (rune, int) {
	switch b[i] {
	case '\\':
		if i+1 < len(b) {
			if r, n := decodeEscape(string(b[i+1 : min(len(b), i+13)])); n > 0 {
				return r, n + 1
			}
		}
	case '&':
		if end := bytes.IndexByte(b[i:min(len(b), i+maxReference)], ';'); end > 1 {
			ref := string(b[i : i+end+1])
			if d := html.UnescapeString(ref); d != ref && utf8.RuneCountInString(d) == 1 {
				r, _ := utf8.DecodeRuneInString(d)
				return r, len(ref)
			}
		}
	}
	return utf8.DecodeRune(b[i:])
}

// appendFolded appends r decomposed and case-folded.
func appendFolded(dst []rune, r rune) []rune {
	if r < utf8.RuneSelf {
		return append(dst, rune(foldASCII(byte(r))))
	}
	start := len(dst)
	dst = unorm.AppendRune(dst, r)
	for k := start; k < len(dst); k++ {
		dst[k] = foldCase(dst[k])
	}
	return dst
}

func foldASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// foldCase returns the smallest rune of r's case-folding orbit: one rune
// for all the cases of a letter (K, k and the Kelvin sign give K).
func foldCase(r rune) rune {
	low := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		low = min(low, f)
	}
	return low
}

// viewBuilder builds a view byte by byte.
type viewBuilder struct {
	text  []byte
	from  []span
	track bool
}

func newViewBuilder(size int, track bool) viewBuilder {
	vb := viewBuilder{text: make([]byte, 0, size), track: track}
	if track {
		vb.from = make([]span, 0, size)
	}
	return vb
}

func (vb *viewBuilder) appendRune(r rune, start, end int) {
	before := len(vb.text)
	vb.text = utf8.AppendRune(vb.text, r)
	for range len(vb.text) - before {
		vb.from = vb.spanned(start, end)
	}
}

func (vb *viewBuilder) appendByte(c byte, start, end int) {
	vb.text = append(vb.text, c)
	vb.from = vb.spanned(start, end)
}

func (vb *viewBuilder) spanned(start, end int) []span {
	if !vb.track {
		return nil
	}
	return append(vb.from, span{int32(start), int32(end)})
}

func (vb *viewBuilder) view(n int) view { return view{text: vb.text, from: vb.from, n: n} }

// base64View returns b without what wraps or escapes a base64 text: white
// space and line breaks, JSON's \r, \n, \t and \/ escapes, and the URL
// escapes of +, / and = (%2B, %2F, %3D in either case).
func base64View(b []byte, track bool) view {
	if !bytes.ContainsAny(b, " \t\r\n\\%") {
		return view{text: b, n: len(b)} // read only: it may be b itself
	}
	vb := newViewBuilder(len(b), track)
	for i := 0; i < len(b); {
		skip, c, n := base64Wrapping(b, i)
		if !skip {
			vb.appendByte(c, i, i+n)
		}
		i += n
	}
	return vb.view(len(b))
}

// base64Wrapping reads b at i: white space or an escaped line break to
// skip, or the character it spells (an escaped /, +, =, or b[i] itself),
// and how many bytes it takes.
func base64Wrapping(b []byte, i int) (skip bool, c byte, n int) {
	switch b[i] {
	case ' ', '\t', '\r', '\n':
		return true, 0, 1
	case '\\':
		if i+1 < len(b) {
			switch b[i+1] {
			case 'r', 'n', 't':
				return true, 0, 2
			case '/':
				return false, '/', 2
			}
		}
	case '%':
		if c, ok := escapedBase64Char(b, i); ok {
			return false, c, 3
		}
	}
	return false, b[i], 1
}

// escapedBase64Char decodes %2B, %2F or %3D (either case) at b[i].
func escapedBase64Char(b []byte, i int) (byte, bool) {
	if i+2 >= len(b) {
		return 0, false
	}
	switch hi, lo := b[i+1], b[i+2]|0x20; { // lo in lower case
	case hi == '2' && lo == 'b':
		return '+', true
	case hi == '2' && lo == 'f':
		return '/', true
	case hi == '3' && lo == 'd':
		return '=', true
	}
	return 0, false
}
