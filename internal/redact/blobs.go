package redact

// MinBlob is the shortest run of base64 characters that Blobs withholds:
// longer than any hash, id or token an error message quotes (a
// transaction hash is 64 hex digits), far shorter than an image.
const MinBlob = 128

// Blob replaces a run of base64 text in an error: an echoed image.
const Blob = "[base64 withheld]"

// maxJoiner is the longest gap that still joins two pieces of one base64
// text: a CRLF, or its JSON escape \r\n.
const maxJoiner = 4

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
	var spans []span
	for i := 0; i < len(b); {
		start, end, next := nextBlob(b, i, truncated)
		if start >= 0 {
			spans = append(spans, span{int32(start), int32(end)})
		}
		i = next
	}
	if len(spans) == 0 {
		return b
	}
	return replaceSpans(b, spans, Blob)
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
	var digits, plusSlash, pad, upperAfterLower, nonHex bool
	lower := false
	j := i
	for j < len(b) {
		n := base64CharLen(b, j)
		if n == 0 {
			break
		}
		c := b[j]
		if n > 1 { // an escaped / or a URL escape of + / =
			plusSlash = true
		}
		switch {
		case '0' <= c && c <= '9':
			digits = true
		case 'a' <= c && c <= 'z':
			lower = true
			nonHex = nonHex || c > 'f'
		case 'A' <= c && c <= 'Z':
			upperAfterLower = upperAfterLower || lower
			nonHex = nonHex || c > 'F'
		case c == '+' || c == '/':
			plusSlash = true
		case c == '=':
			pad = true
		default:
			nonHex = true
		}
		p.chars++
		j += n
	}
	p.end = j
	hexNumber := !nonHex || p.chars > 2 && (b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X')) && isHex(b[i+2:j])
	p.encoded = p.chars >= 4 && !hexNumber && (digits || plusSlash || pad || upperAfterLower)
	return p
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
// (2 for JSON's \/, 3 for %2B, %2F or %3D), or 0 when there is none.
func base64CharLen(b []byte, i int) int {
	c := b[i]
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return 1
	case c == '+' || c == '/' || c == '=' || c == '-' || c == '_':
		return 1
	case c == '\\' && i+1 < len(b) && b[i+1] == '/':
		return 2
	case c == '%':
		if _, ok := escapedBase64Char(b, i); ok {
			return 3
		}
	}
	return 0
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
