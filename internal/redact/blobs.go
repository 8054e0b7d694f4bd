package redact

// MinBlob is the shortest run of base64 characters that Blobs withholds:
// longer than any hash, id or token an error message quotes (a
// transaction hash is 64 hex digits), far shorter than an image.
const MinBlob = 128

// Blob replaces a run of base64 text in an error: an echoed image.
const Blob = "[base64 withheld]"

// maxJoiner is the longest gap that still joins two pieces of one base64
// text: a line break and the indentation of the next line, escaped or not
// (%0D%0A, &#13;&#10;, \\r\\n).
const maxJoiner = 64

// Blobs replaces every base64 text of at least MinBlob characters with
// Blob: a server that echoes a request echoes its images, which no error
// or log may carry. A base64 text is a run of base64 characters (either
// alphabet, padding, JSON's \/ and the URL escapes %2B, %2F, %3D), or
// several such runs joined by line breaks or white space (wrapped at 64 or
// 76 columns, spaced) of which at least three quarters of the characters
// are in pieces that look encoded, not like words or hex numbers. When b
// is cut (truncated), a text at its end is replaced from a quarter of that
// length: it may be the start of an image.
func Blobs(b []byte, truncated bool) []byte {
	if !truncated && len(b) < MinBlob {
		// A base64 character takes a byte or more, and decoding a literal
		// never makes it longer: a shorter text holds no blob. Request ids
		// are masked on every observed call.
		return b
	}
	// A JSON string literal is read decoded too: its escapes may join the
	// pieces (\u000a, \u0026#10;) in a way the raw text does not show. A
	// literal shorter than a blob cannot hold one.
	b = rewriteLiterals(b, false, MinBlob, func(text []byte) ([]byte, bool) { return blobsOf(text, false) })
	out, _ := blobsOf(b, truncated)
	return out
}

// blobsOf replaces the base64 texts of b, read as it is, and reports
// whether there was any.
func blobsOf(b []byte, truncated bool) ([]byte, bool) {
	var spans []span
	for i := 0; i < len(b); {
		start, end, next := nextBlob(b, i, truncated)
		if start >= 0 {
			spans = append(spans, span{int32(start), int32(end)})
		}
		i = next
	}
	if len(spans) == 0 {
		return b, false
	}
	return replaceSpans(b, spans, Blob), true
}

// piece is one run of base64 characters.
type piece struct {
	start, end int // bytes of the original
	chars      int // base64 characters it spells
	encoded    bool
}

// nextBlob reads the chain of pieces that starts at or after b[i] and
// returns the span to withhold, or start -1, and where to read on. A chain
// is an encoded text when it is a single run long enough, or when its
// pieces, trimmed of words at either end, are long enough together and
// mostly encoded (a run of MinBlob characters counts as encoded, whatever
// it looks like).
func nextBlob(b []byte, i int, truncated bool) (start, end, next int) {
	for i < len(b) && base64CharLen(b, i) == 0 {
		i++
	}
	if i == len(b) {
		return -1, 0, i
	}
	var c chainTally
	for {
		p := readPiece(b, i)
		c.add(p)
		gap := joinerLen(b, p.end)
		if gap == 0 || p.end+gap >= len(b) || base64CharLen(b, p.end+gap) == 0 {
			next = p.end + gap
			break
		}
		i = p.end + gap
	}
	minChars := MinBlob
	if truncated && c.last.end == len(b) {
		minChars = MinBlob / 4 // it may be the start of an image
	}
	if c.pieces == 1 {
		if c.last.chars >= minChars {
			return c.last.start, c.last.end, next
		}
		return -1, 0, next
	}
	if c.total == 0 || c.total < minChars || 4*c.encoded < 3*c.total {
		return -1, 0, next
	}
	return c.start, c.end, next
}

// chainTally sums up a chain of pieces as it is read: the span from its
// first encoded piece to its last, and the characters in that span, all
// and encoded.
type chainTally struct {
	pieces         int
	last           piece
	start, end     int
	total, encoded int // in the span
	pending        int // characters after the last encoded piece so far
}

func (c *chainTally) add(p piece) {
	c.pieces++
	c.last = p
	if !p.encoded && p.chars < MinBlob {
		if c.total > 0 {
			c.pending += p.chars
		}
		return
	}
	if c.total == 0 {
		c.start = p.start
	}
	c.total += c.pending + p.chars
	c.encoded += p.chars
	c.pending = 0
	c.end = p.end
}

// readPiece reads the run of base64 characters at b[i].
func readPiece(b []byte, i int) piece {
	p := piece{start: i}
	var look pieceLook
	j := i
	for j < len(b) {
		c, n := base64Char(b, j)
		if n == 0 {
			break
		}
		look.add(b[j], n > 1)
		p.chars++
		j += n
		if next, k := base64Char(b, j); c == '=' && k > 0 && next != '=' {
			break // "key=value": padding only ends an encoded text, and a value may be one
		}
	}
	p.end = j
	hexPrefixed := p.chars > 2 && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X') && isHex(b[i+2:j])
	p.encoded = p.chars >= 4 && look.encoded(p.chars, hexPrefixed)
	return p
}

// pieceLook tallies what a run of base64 characters looks like.
type pieceLook struct {
	digits, signs, pad, lower, upperAfterLower, nonHex bool
	pluses                                             int // raw +, which a form writes for each space
}

// add tallies c, the first byte of a base64 character; escaped says it
// was an escape (an escaped /, a URL escape of + / =).
func (l *pieceLook) add(c byte, escaped bool) {
	l.signs = l.signs || escaped
	switch {
	case '0' <= c && c <= '9':
		l.digits = true
	case 'a' <= c && c <= 'z':
		l.lower = true
		l.nonHex = l.nonHex || c > 'f'
	case 'A' <= c && c <= 'Z':
		l.upperAfterLower = l.upperAfterLower || l.lower
		l.nonHex = l.nonHex || c > 'F'
	case c == '+' || c == '/':
		l.signs = true
		if c == '+' {
			l.pluses++
		}
	case c == '=':
		l.pad = true
	case c == '-': // hex digits and dashes are an identifier (a UUID), not an encoding
	default:
		l.nonHex = true
	}
}

// encoded reports a run of chars characters that looks encoded: digits,
// signs, padding or mixed case, and not a hex number, a UUID or words
// joined by + as a form writes them (base64 has a + in 64 characters).
func (l *pieceLook) encoded(chars int, hexPrefixed bool) bool {
	switch {
	case !l.nonHex || hexPrefixed, l.pluses*8 > chars:
		return false
	}
	return l.digits || l.signs || l.pad || l.upperAfterLower
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// base64CharLen returns how many bytes the base64 character at b[i] takes
// (more than one for an escaped /, + or =: JSON's \/, %2B, &#43;), or 0
// when there is none.
func base64CharLen(b []byte, i int) int {
	_, n := base64Char(b, i)
	return n
}

// base64Char returns the base64 character at b[i], decoded, and how many
// bytes it takes; 0 bytes when there is none.
func base64Char(b []byte, i int) (byte, int) {
	if i >= len(b) {
		return 0, 0
	}
	skip, c, n := base64Wrapping(b, i)
	switch {
	case skip:
		return 0, 0
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return c, n
	case c == '+' || c == '/' || c == '=' || c == '-' || c == '_':
		return c, n
	}
	return 0, 0
}

// joinerLen returns the length of the line break or white space at b[i]
// that may join two pieces of one base64 text (at most maxJoiner bytes of
// space, tab, CR, LF and their JSON escapes), or 0.
func joinerLen(b []byte, i int) int {
	j := i
	for j < len(b) && j-i < maxJoiner {
		skip, _, n := base64Wrapping(b, j)
		if !skip {
			break
		}
		j += n
	}
	if j-i > maxJoiner {
		return 0
	}
	return j - i
}
