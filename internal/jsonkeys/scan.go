package jsonkeys

import (
	"encoding/json"
	"sync"
	"unicode/utf8"
)

// maxDepth is the nesting encoding/json accepts: deeper input is not JSON
// to json.Valid, so it is not JSON here either.
const maxDepth = 10000

// smallObject is how many keys an object's keys are compared pairwise for;
// past it they go to a map, so a body of many keys costs linear time.
const smallObject = 24

// Result is what Scan learned of a JSON value.
type Result struct {
	// Object reports a top-level object.
	Object bool
	// Has has bit i set when names[i] is a key of the top-level object,
	// compared exactly (after unescaping), as a map[string] decode sees it.
	Has uint64
	// Duplicate reports an object, anywhere, that repeats a key compared
	// as CheckUnique compares them.
	Duplicate bool
}

// Scan reads data once, byte by byte: it checks that data is one JSON
// value as json.Valid does, looks for repeated keys as CheckUnique does,
// and notes which of names (at most 64) are keys of the top-level object.
// Callers pass names as a slice kept for the purpose (Scan(data, list...)),
// which costs no allocation per call.
// Invalid input is an error that does not quote it.
//
// It replaces a validating decode, a token decode for the keys and a probe
// decode into a map with one pass that allocates only for objects of many
// keys or keys that are escaped or not ASCII.
func Scan(data []byte, names ...string) (Result, error) {
	return scan(data, names, nil)
}

// ScanSpans is Scan that also sets spans[n] (len(spans) == len(names)) to
// where the value of the top-level member names[n] lies, as Members does:
// a caller that needs a member or two of a body it scans anyway reads them
// without another pass. Every span is the zero Span when names[n] is
// absent, when data is not an object, or when encoding/json could read
// another key of the object as one of names (see Members): the caller then
// decodes data for them.
func ScanSpans(data []byte, names []string, spans []Span) (Result, error) {
	clear(spans)
	return scan(data, names, spans)
}

// scan is Scan, and ScanSpans when spans is not nil. The spans are noted
// in the scanner's own (spanBuf, for a few names) and copied out, so that
// the caller's may stay on its stack.
func scan(data []byte, names []string, spans []Span) (Result, error) {
	s := scanners.Get().(*scanner)
	defer s.release()
	s.data, s.names = data, names
	if spans != nil {
		s.spans = append(s.spanBuf[:0], spans...) // zero Spans
	}
	i := s.value(s.space(0))
	if s.bad || s.space(i) != len(data) {
		return Result{}, errNotJSON
	}
	if s.res.Object && !s.unsure {
		copy(spans, s.spans)
	}
	return s.res, nil
}

// scanners are reused: a scan then allocates nothing for a body of plain
// keys and little nesting.
var scanners = sync.Pool{New: func() any {
	return &scanner{stack: make([]scanFrame, 0, 16), keys: make([]key, 0, 64), pending: -1}
}}

// release returns s to scanners, without its input, and without stacks
// a very deep or wide document grew.
func (s *scanner) release() {
	if cap(s.stack) > 256 || cap(s.keys) > 1024 {
		return
	}
	clear(s.stack[:cap(s.stack)]) // the maps of the objects left open
	*s = scanner{stack: s.stack[:0], keys: s.keys[:0], pending: -1}
	scanners.Put(s)
}

// scanner is the state of one Scan.
type scanner struct {
	data  []byte
	names []string
	res   Result
	bad   bool

	// stack holds the open objects and arrays; keys the keys of the open
	// objects that are compared pairwise, each object's from its frame's
	// first.
	stack []scanFrame
	keys  []key

	// Members' mode: no repeated-key check. With Members and ScanSpans,
	// spans[n] is where the value of names[n] lies, pending the name whose
	// value is being scanned (-1 for none), unsure a top-level key they
	// cannot vouch for.
	members bool
	spans   []Span
	spanBuf [2]Span
	pending int
	unsure  bool
}

type scanFrame struct {
	object bool
	first  int                 // index in keys of the object's first key
	folded map[string]struct{} // the folded keys, once there are too many or odd ones
}

// key is a key of plain ASCII, compared by its bytes folded to upper case.
// Keys whose sig differ are not compared: most keys of an object differ
// in length, first or last byte.
type key struct {
	start, end int
	sig        uint64
}

// keySig is the length of a plain key and its first and last bytes with
// bit 0x20 set: keys equal but for the case of ASCII letters have the same.
func keySig(raw []byte) uint64 {
	if len(raw) == 0 {
		return 0
	}
	return uint64(len(raw))<<16 | uint64(raw[0]|0x20)<<8 | uint64(raw[len(raw)-1]|0x20)
}

// value scans the value at i (after space) and returns the index past it.
// The containers are scanned with an explicit stack: no recursion, so the
// depth is bounded by maxDepth alone.
func (s *scanner) value(i int) int {
	data := s.data
	for {
		if i >= len(data) {
			s.bad = true
			return i
		}
		switch c := data[i]; {
		case c == '{':
			if !s.push(true) {
				return i
			}
			if len(s.stack) == 1 {
				s.res.Object = true
			}
			i = s.space(i + 1)
			if i < len(data) && data[i] == '}' {
				i++
				s.pop()
				break
			}
			if i = s.member(i); s.bad {
				return i
			}
			continue // the member's value
		case c == '[':
			if !s.push(false) {
				return i
			}
			i = s.space(i + 1)
			if i < len(data) && data[i] == ']' {
				i++
				s.pop()
				break
			}
			continue // the first element
		case c == '"':
			if i, _ = s.str(i); s.bad {
				return i
			}
		case c == 't':
			i = s.literal(i, "true")
		case c == 'f':
			i = s.literal(i, "false")
		case c == 'n':
			i = s.literal(i, "null")
		default:
			i = s.number(i)
		}
		// A value ended: close containers or go to the next member.
		if i = s.after(i); s.bad || len(s.stack) == 0 {
			return i
		}
	}
}

// after is called past a value: it closes the containers that end there
// and returns the index of the next value, past a ',' (and, in an object,
// past the next key and its ':'), or past the last closing bracket.
func (s *scanner) after(i int) int {
	data := s.data
	for len(s.stack) > 0 {
		if s.pending >= 0 && len(s.stack) == 1 {
			s.spans[s.pending].End = i // a top-level member's value ends
			s.pending = -1
		}
		i = s.space(i)
		if s.bad || i >= len(data) {
			s.bad = true
			return i
		}
		top := &s.stack[len(s.stack)-1]
		switch c := data[i]; {
		case c == ',':
			i = s.space(i + 1)
			if top.object {
				return s.member(i)
			}
			return i
		case top.object && c == '}', !top.object && c == ']':
			s.pop()
			i++
		default:
			s.bad = true
			return i
		}
	}
	return i
}

func (s *scanner) push(object bool) bool {
	if len(s.stack) >= maxDepth {
		s.bad = true
		return false
	}
	s.stack = append(s.stack, scanFrame{object: object, first: len(s.keys)})
	return true
}

func (s *scanner) pop() {
	top := s.stack[len(s.stack)-1]
	s.keys = s.keys[:top.first]
	s.stack = s.stack[:len(s.stack)-1]
}

// member scans an object's key at i and the ':' after it, records the
// key, and returns the index of the value.
func (s *scanner) member(i int) int {
	data := s.data
	if i >= len(data) || data[i] != '"' {
		s.bad = true
		return i
	}
	end, plain := s.str(i)
	if s.bad {
		return end
	}
	s.addKey(i+1, end-1, plain)
	j := s.space(end)
	if j >= len(data) || data[j] != ':' {
		s.bad = true
		return j
	}
	return s.space(j + 1)
}

// addKey records the key whose quoted text is data[start:end] in the
// innermost object, noting a repeat and a top-level name. plain says that
// the key is ASCII without escapes (str).
func (s *scanner) addKey(start, end int, plain bool) {
	raw := s.data[start:end]
	var decoded string
	if !plain {
		var ok bool
		if decoded, ok = decodeKey(s.data[start-1 : end+1]); !ok {
			s.bad = true
			return
		}
	}
	if len(s.stack) == 1 && len(s.names) > 0 {
		s.noteName(raw, decoded, plain)
		if s.spans != nil { // Members, ScanSpans
			s.noteMember(raw, plain, end)
		}
	}
	if s.res.Duplicate || s.members {
		return // one is enough; keep validating
	}
	top := &s.stack[len(s.stack)-1]
	if top.folded == nil && plain && len(s.keys)-top.first < smallObject {
		sig := keySig(raw)
		for _, k := range s.keys[top.first:] {
			if k.sig == sig && equalFoldASCII(s.data[k.start:k.end], raw) {
				s.res.Duplicate = true
				return
			}
		}
		s.keys = append(s.keys, key{start, end, sig})
		return
	}
	if top.folded == nil {
		// Move the object's keys so far to a map of folded keys.
		top.folded = make(map[string]struct{}, 2*smallObject)
		for _, k := range s.keys[top.first:] {
			top.folded[fold(string(s.data[k.start:k.end]))] = struct{}{}
		}
		s.keys = s.keys[:top.first]
	}
	if plain {
		decoded = string(raw)
	}
	folded := fold(decoded)
	if _, seen := top.folded[folded]; seen {
		s.res.Duplicate = true
		return
	}
	top.folded[folded] = struct{}{}
}

// decodeKey reads a quoted key as encoding/json does (escapes, and U+FFFD
// for bytes that are not UTF-8): the rare keys that are not plain ASCII,
// compared by their folded form.
func decodeKey(quoted []byte) (string, bool) {
	var key string
	err := json.Unmarshal(quoted, &key)
	return key, err == nil
}

// noteMember notes where the value of a top-level key that is one of
// names starts, or that a key could be taken for one of them by
// encoding/json, which matches keys without case: a repeat, another case,
// an escaped or non-ASCII key (which may fold to ASCII, as the Kelvin sign
// does to k).
func (s *scanner) noteMember(raw []byte, plain bool, end int) {
	if !plain {
		s.unsure = true
		return
	}
	for n, name := range s.names {
		if !equalFoldASCII(raw, []byte(name)) {
			continue
		}
		if string(raw) != name || s.spans[n] != (Span{}) {
			s.unsure = true
			return
		}
		s.pending = n
		s.spans[n].Start = s.space(s.space(end+1) + 1) // past the quote, the ':' and space
	}
}

// noteName sets the bit of each name the top-level key is.
func (s *scanner) noteName(raw []byte, decoded string, plain bool) {
	for n, name := range s.names {
		if (plain && string(raw) == name) || (!plain && decoded == name) {
			s.res.Has |= 1 << n
		}
	}
}

// equalFoldASCII compares two ASCII keys as fold would: letters without
// case. Only ASCII letters fold to ASCII letters among ASCII bytes.
func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// space returns the index of the first byte at or after i that is not
// JSON white space.
func (s *scanner) space(i int) int {
	data := s.data
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// str scans the string that starts at i and returns the index past its
// closing quote, and whether the string is plain: ASCII without escapes.
// Like encoding/json, it accepts bytes that are not UTF-8 and refuses
// control characters and unknown escapes.
func (s *scanner) str(i int) (int, bool) {
	data := s.data
	plain := true
	for i++; i < len(data); i++ {
		c := data[i]
		if !strSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain
		case c >= utf8.RuneSelf:
			plain = false
		case c < 0x20:
			s.bad = true
			return i, false
		default: // '\\'
			plain = false
			i++
			if i >= len(data) {
				s.bad = true
				return i, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					s.bad = true
					return i, false
				}
				i += 4
			default:
				s.bad = true
				return i, false
			}
		}
	}
	s.bad = true
	return i, false
}

// strSpecial marks the bytes str looks at: the quote, the backslash,
// control characters, and bytes past ASCII (a key with them is not
// plain). The others it passes with one load and one test.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) literal(i int, word string) int {
	if len(s.data)-i < len(word) || string(s.data[i:i+len(word)]) != word {
		s.bad = true
		return i
	}
	return i + len(word)
}

// number scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (s *scanner) number(i int) int {
	data := s.data
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(data, i)
	default:
		s.bad = true
		return i
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			s.bad = true
			return j
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			s.bad = true
			return j
		}
		i = j
	}
	return i
}

func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// Span is where a value lies in the data it was found in: data[Start:End].
// The zero Span means no value.
type Span struct{ Start, End int }

// Members reads data once, byte by byte, checking that it is one JSON value
// as json.Valid does, and sets spans[n] (len(spans) == len(names)) to where
// the value of the top-level member names[n] lies, or to the zero Span.
// ok is false when data is not an object, or when encoding/json could read
// a key of data's object as one of names other than the one found (the
// name in another case, repeated, escaped or not ASCII): the caller then
// decodes data as a whole. Names are plain ASCII. Invalid input is an
// error that does not quote it.
//
// It lets a decoder leave big values it keeps as they are (raw JSON) out
// of the decode: they are then read once, here, instead of being
// validated, skipped and copied by encoding/json.
func Members(data []byte, names []string, spans []Span) (ok bool, err error) {
	clear(spans)
	s := scanners.Get().(*scanner)
	defer s.release()
	s.data, s.names, s.members, s.spans = data, names, true, spans
	i := s.value(s.space(0))
	if s.bad || s.space(i) != len(data) {
		clear(spans)
		return false, errNotJSON
	}
	if !s.res.Object || s.unsure {
		clear(spans)
		return false, nil
	}
	return true, nil
}
