package redact

import (
	"bytes"
	"html"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/kyabc/kryptogo-go/internal/unorm"
)

// A text is searched in two views, each a rewriting of it that makes many
// spellings of a secret one: the text view, decomposed (NFD), folded to
// one letter case, its runs of white space one space, for the values and
// their escapings; and the base64
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
// (&eacute;, &#233;) read as the characters they stand for, and each run
// of white space (any Unicode space: tabs, line breaks, no-break spaces,
// and their escapes) read as one space. A character and the combining
// marks that follow it are one unit: every byte of their rewriting comes
// from the whole unit; a run of white space is one unit too.
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
		for _, r := range dropDotAboveI(unit) {
			vb.appendRune(r, unitStart, end)
		}
		unit = unit[:0]
	}
	for i := 0; i < len(b); {
		if c := b[i]; plainByte(c) && (i+1 == len(b) || b[i+1] < utf8.RuneSelf && b[i+1] != '\\' && b[i+1] != '&') {
			flush(i) // an ASCII character no combining mark follows is a unit
			if isASCIISpace(c) {
				vb.appendSpace(i, i+1)
			} else {
				vb.appendByte(foldASCII(c), i, i+1)
			}
			i++
			unitStart = i
			continue
		}
		r, size := readChar(b, i)
		if unicode.IsSpace(r) {
			flush(i)
			vb.appendSpace(i, i+size)
			i += size
			unitStart = i
			continue
		}
		scratch = appendFolded(scratch[:0], r)
		if i > unitStart && (unorm.CombiningClass(scratch[0]) == 0 || len(unit) >= maxUnit) { // a starter begins a unit
			flush(i)
			unitStart = i
		}
		unit = append(unit, scratch...)
		i += size
	}
	flush(len(b))
	return vb.view(len(b))
}

// maxUnit bounds the runes of a unit, as Unicode's stream-safe text
// format bounds the combining marks of a character (30): a letter under
// thousands of marks would make ordering them cost more than linear time,
// and no name has more than a few.
const maxUnit = 32

// plainByte reports an ASCII byte that is not the start of an escape.
func plainByte(c byte) bool { return c < utf8.RuneSelf && c != '\\' && c != '&' }

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isPlainASCII reports a text of plainByte only, with single spaces (no
// other white space): its own view, folded.
func isPlainASCII(b []byte) bool {
	for i, c := range b {
		if !plainByte(c) || isASCIISpace(c) && (c != ' ' || i > 0 && b[i-1] == ' ') {
			return false
		}
	}
	return true
}

// dotAbove is U+0307, which an "İ" decomposes into after its "I".
const dotAbove = '\u0307'

// dropDotAboveI drops the dots above of a unit whose letter is I: "İ" is
// "I" and a dot, and servers change its case to "i" + dot (Python, Java),
// plain "i" (Go) or "I" (ASCII folding), while the dotless "ı" upper-cases
// to "I". Matching all of them as "I" keeps a Turkish name masked however
// its case was changed.
func dropDotAboveI(unit []rune) []rune {
	if len(unit) < 2 || unit[0] != 'I' || !slices.Contains(unit, dotAbove) {
		return unit
	}
	return slices.DeleteFunc(unit, func(r rune) bool { return r == dotAbove })
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

// appendFolded appends r decomposed and case-folded; a full-width form of
// an ASCII character (Ｊ, １) as that character.
func appendFolded(dst []rune, r rune) []rune {
	if r >= fullWidthFirst && r <= fullWidthLast {
		r -= fullWidthFirst - '!'
	}
	if r < utf8.RuneSelf {
		return append(dst, rune(foldASCII(byte(r))))
	}
	var buf [8]rune
	for _, d := range unorm.AppendRune(buf[:0], r) {
		f := foldCase(d)
		if expansion, ok := caseExpansions[f]; ok {
			dst = append(dst, expansion...)
		} else {
			dst = append(dst, f)
		}
	}
	return dst
}

// The full-width forms of the ASCII characters ! to ~ (U+FF01 to U+FF5E),
// which East Asian systems write for Latin letters and digits.
const (
	fullWidthFirst = '\uFF01'
	fullWidthLast  = '\uFF5E'
)

// caseExpansions are the letters whose case mapping is more than one
// letter (Unicode's full case folding, the entries canonical
// decomposition does not already give): servers in Python, JavaScript and
// Java upper-case "ß" as "SS" and "ﬁ" as "FI". Keys are folded letters
// (foldCase), values folded too.
var caseExpansions = map[rune][]rune{
	'ß': {'S', 'S'}, // ẞ folds to ß
	'ŉ': {'ʼ', 'N'},
	'ẚ': {'A', 'ʾ'},
	'ﬀ': {'F', 'F'}, 'ﬁ': {'F', 'I'}, 'ﬂ': {'F', 'L'}, 'ﬃ': {'F', 'F', 'I'}, 'ﬄ': {'F', 'F', 'L'},
	'ﬅ': {'S', 'T'}, 'ﬆ': {'S', 'T'},
	'և': {'Ե', 'Ւ'}, 'ﬓ': {'Մ', 'Ն'}, 'ﬔ': {'Մ', 'Ե'}, 'ﬕ': {'Մ', 'Ի'}, 'ﬖ': {'Վ', 'Ն'}, 'ﬗ': {'Մ', 'Խ'},
}

func foldASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// foldCase returns the smallest rune of the case-folding orbits of r and
// of its upper and lower case: one rune for all the cases of a letter (K,
// k and the Kelvin sign give K), and for letters that change case outside
// their orbit (the dotless ı upper-cases to I).
func foldCase(r rune) rune {
	low := orbitMin(r)
	if u := unicode.ToUpper(r); u != r {
		low = min(low, orbitMin(u))
	}
	if l := unicode.ToLower(r); l != r {
		low = min(low, orbitMin(l))
	}
	return low
}

// orbitMin returns the smallest rune of r's simple case-folding orbit.
func orbitMin(r rune) rune {
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
	space bool // the last byte is a space standing for a run of white space
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
	vb.space = false
}

func (vb *viewBuilder) appendByte(c byte, start, end int) {
	vb.text = append(vb.text, c)
	vb.from = vb.spanned(start, end)
	vb.space = false
}

// appendSpace appends a space for the white space at start:end, or widens
// the space just appended to cover it: a run of white space is one space.
func (vb *viewBuilder) appendSpace(start, end int) {
	if !vb.space {
		vb.appendByte(' ', start, end)
		vb.space = true
		return
	}
	if vb.track {
		vb.from[len(vb.from)-1].end = int32(end)
	}
}

func (vb *viewBuilder) spanned(start, end int) []span {
	if !vb.track {
		return nil
	}
	return append(vb.from, span{int32(start), int32(end)})
}

func (vb *viewBuilder) view(n int) view { return view{text: vb.text, from: vb.from, n: n} }

// base64View returns b without what wraps or escapes a base64 text: white
// space and line breaks, also escaped (JSON's \r, \n, \t and \u000a,
// with any number of backslashes, as a JSON text quoted in another writes
// them; URL escapes %0A, %0D, %09, %20; HTML references &#10;, &#xD;…),
// and the escapes of +, / and = (JSON's \/, URL's %2B, %2F, %3D, also
// escaped twice as %252F, HTML's &#43;).
func base64View(b []byte, track bool) view {
	if !bytes.ContainsAny(b, " \t\r\n\\%&") {
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

// base64Wrapping reads b at i: white space or an escaped one to skip, or
// the character it spells (an escaped /, +, =, or b[i] itself), and how
// many bytes it takes.
func base64Wrapping(b []byte, i int) (skip bool, c byte, n int) {
	switch b[i] {
	case ' ', '\t', '\r', '\n':
		return true, 0, 1
	case '\\':
		if c, n, ok := backslashEscape(b, i); ok {
			return isWrapSpace(c), c, n
		}
	case '%':
		if c, n, ok := percentEscape(b, i); ok && (isWrapSpace(c) || isBase64Sign(c)) {
			return isWrapSpace(c), c, n
		}
	case '&':
		if c, n, ok := numericReference(b, i); ok && (isWrapSpace(c) || isBase64Sign(c)) {
			return isWrapSpace(c), c, n
		}
	}
	return false, b[i], 1
}

// isWrapSpace reports the white space that wraps a base64 text.
func isWrapSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isBase64Sign reports the signs of base64 that escapes change: + / =.
func isBase64Sign(c byte) bool { return c == '+' || c == '/' || c == '=' }

// backslashEscape decodes the escape at b[i]: backslashes (one, or more
// for a JSON text quoted in another) and r, n, t, / or u with four hex
// digits of a wrapping space or a base64 sign.
func backslashEscape(b []byte, i int) (byte, int, bool) {
	j := i
	for j < len(b) && b[j] == '\\' {
		j++
	}
	if j == len(b) {
		return 0, 0, false
	}
	switch b[j] {
	case 'r':
		return '\r', j + 1 - i, true
	case 'n':
		return '\n', j + 1 - i, true
	case 't':
		return '\t', j + 1 - i, true
	case '/':
		return '/', j + 1 - i, true
	case 'u':
		if j+5 <= len(b) && b[j+1] == '0' && b[j+2] == '0' {
			if c, ok := hexByte(b[j+3], b[j+4]); ok && (isWrapSpace(c) || isBase64Sign(c)) {
				return c, j + 5 - i, true
			}
		}
	}
	return 0, 0, false
}

// percentEscape decodes the URL escape at b[i], %XX or, escaped twice,
// %25XX.
func percentEscape(b []byte, i int) (byte, int, bool) {
	if i+2 >= len(b) {
		return 0, 0, false
	}
	c, ok := hexByte(b[i+1], b[i+2])
	if ok && c == '%' && i+4 < len(b) {
		if inner, ok := hexByte(b[i+3], b[i+4]); ok {
			return inner, 5, true
		}
	}
	return c, 3, ok
}

// maxNumericReference is the longest HTML numeric reference read: &#x0000A;.
const maxNumericReference = 10

// numericReference decodes the HTML numeric character reference at b[i]
// (&#10; or &#xA;) of an ASCII character.
func numericReference(b []byte, i int) (byte, int, bool) {
	end := bytes.IndexByte(b[i:min(len(b), i+maxNumericReference)], ';')
	if end < 3 || b[i+1] != '#' {
		return 0, 0, false
	}
	digits, base := b[i+2:i+end], 10
	if digits[0] == 'x' || digits[0] == 'X' {
		digits, base = digits[1:], 16
	}
	v := 0
	for _, d := range digits {
		k, ok := digitValue(d)
		if !ok || k >= base {
			return 0, 0, false
		}
		v = v*base + k
	}
	if len(digits) == 0 || v >= utf8.RuneSelf {
		return 0, 0, false
	}
	return byte(v), end + 1, true
}

// hexByte decodes two hex digits.
func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := digitValue(hi)
	l, ok2 := digitValue(lo)
	if !ok1 || !ok2 || h > 15 || l > 15 {
		return 0, false
	}
	return byte(h<<4 | l), true
}

// digitValue returns the value of a decimal or hex digit.
func digitValue(d byte) (int, bool) {
	switch {
	case '0' <= d && d <= '9':
		return int(d - '0'), true
	case 'a' <= d && d <= 'f':
		return int(d-'a') + 10, true
	case 'A' <= d && d <= 'F':
		return int(d-'A') + 10, true
	}
	return 0, false
}
