// Package jsonscan reads the usual forms of a few JSON values without a
// decoder: the fast paths of the SDK's models. Each function answers false
// for a form it does not handle, which the caller leaves to encoding/json.
// SmallUints, StringPairs and KeyValues validate what they read; the other
// scans of objects trust their input to be JSON that encoding/json
// accepted.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// SmallUint parses a JSON number of 1 to 18 digits and nothing else.
func SmallUint(data []byte) (int64, bool) {
	if len(data) == 0 || len(data) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range data {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// IsDecimalNumber reports whether s is a number as JSON writes it (digits,
// an optional minus, fraction and exponent), which excludes the NaN, Inf,
// hex and underscore forms strconv also parses.
func IsDecimalNumber(s string) bool {
	s, ok := cutDigits(strings.TrimPrefix(s, "-"))
	if !ok {
		return false
	}
	if rest, found := strings.CutPrefix(s, "."); found {
		if s, ok = cutDigits(rest); !ok {
			return false
		}
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if s, ok = cutDigits(s); !ok {
			return false
		}
	}
	return s == ""
}

// cutDigits removes the leading digits of s; ok is false when there are none.
func cutDigits(s string) (rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[i:], i > 0
}

// ScalarText returns the text of a JSON number or string, with isNull set for
// null and "". Any other JSON value is an error.
func ScalarText(data []byte) (text string, isNull bool, err error) {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		return "", true, nil
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", false, err
		}
		s = strings.TrimSpace(s)
		return s, s == "", nil
	case data[0] == '-' || (data[0] >= '0' && data[0] <= '9'):
		return string(data), false, nil
	default:
		return "", false, fmt.Errorf("kryptogo: expected a number or a string, got a JSON %s", kind(data[0]))
	}
}

// kind names the kind of JSON value that starts with c. Decoding errors
// name kinds, never values: a callback body holds personal data, and its
// decoding errors end up in logs.
func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return "value"
}

// SmallUints parses the usual form of a list of small codes, a flat array
// of integers of at most 32 bits written as JSON writes them (no leading
// zero), without a decoder; ok is false for any other form. What it takes
// is valid JSON: it may be given any bytes.
func SmallUints[T ~int](data []byte) ([]T, bool) {
	data = TrimSpace(data)
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return nil, false
	}
	inner := data[1 : len(data)-1]
	out := make([]T, 0, bytes.Count(inner, []byte(","))+1)
	i := skipSpace(inner, 0)
	if i == len(inner) {
		return out, true
	}
	for { // one pass: a number, then a ',' and the next, or the end
		start, n := i, 0
		for ; i < len(inner) && inner[i] >= '0' && inner[i] <= '9'; i++ {
			if n = n*10 + int(inner[i]-'0'); n > math.MaxInt32 {
				return nil, false
			}
		}
		if i == start || (i-start > 1 && inner[start] == '0') {
			return nil, false // no digit, or a leading zero, which JSON forbids
		}
		out = append(out, T(n))
		if i = skipSpace(inner, i); i == len(inner) {
			return out, true
		}
		if inner[i] != ',' {
			return nil, false
		}
		if i = skipSpace(inner, i+1); i == len(inner) {
			return nil, false // a trailing comma
		}
	}
}

// TrimSpace returns data without the JSON white space around it (space,
// tab, line feed, carriage return; not Unicode's other spaces, which are
// not JSON): what bytes.Trim(data, " \t\r\n") returns, but for nil when
// nothing is left, without building a set of the cut bytes per call.
func TrimSpace(data []byte) []byte {
	start, end := 0, len(data)
	for start < end && isJSONSpace(data[start]) {
		start++
	}
	for end > start && isJSONSpace(data[end-1]) {
		end--
	}
	return data[start:end]
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// StringPairs reads an object of string values with no escapes, such as
// {"region":"APAC"}, calling pair for each member in order; it reports
// false, maybe after some calls, for any other object and anything but
// JSON (it validates what it reads: it may be given any bytes; the object
// starts at data[0]). The keys and values share one copy of data.
func StringPairs(data []byte, pair func(key, value string)) bool {
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	text := string(data) // one copy that every key and value shares
	i := skipSpace(data, 1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key := i
		keyEnd, ok := plainString(data, key)
		if !ok {
			return false
		}
		if i = skipSpace(data, keyEnd); i >= len(data) || data[i] != ':' {
			return false
		}
		valStart := skipSpace(data, i+1)
		valEnd, ok := plainString(data, valStart)
		if !ok {
			return false
		}
		pair(text[key+1:keyEnd-1], text[valStart+1:valEnd-1])
		switch i = skipSpace(data, valEnd); {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// plainString returns the index past the JSON string that starts at i
// when it has no escape, no control character and valid UTF-8; ok is
// false for any other string, or none.
func plainString(data []byte, i int) (end int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, false
	}
	n := bytes.IndexByte(data[i+1:], '"')
	if n < 0 {
		return 0, false
	}
	text := data[i+1 : i+1+n]
	for _, c := range text {
		if c < 0x20 || c == '\\' {
			return 0, false
		}
	}
	return i + n + 2, utf8.Valid(text)
}

// KeyValues reads an array of objects of exactly two string members with
// no escapes, keyName and valueName in either order, such as
// [{"key":"region","value":"APAC"}], calling pair for each object in order;
// it reports false, maybe after some calls, for any other array (a member
// missing, repeated, of another name or spelling, or not such a string)
// and anything but JSON (it validates what it reads: it may be given any
// bytes; the array starts at data[0]). The keys and values share one copy
// of data.
func KeyValues(data []byte, keyName, valueName string, pair func(key, value string)) bool {
	if len(data) == 0 || data[0] != '[' {
		return false
	}
	text := string(data) // one copy that every key and value shares
	i := skipSpace(data, 1)
	if i < len(data) && data[i] == ']' {
		return skipSpace(data, i+1) == len(data)
	}
	for i < len(data) && data[i] == '{' {
		var got [2]string
		var seen [2]bool
		i = skipSpace(data, i+1)
		for _, end := range [2]byte{',', '}'} {
			nameEnd, ok := plainString(data, i)
			if !ok {
				return false
			}
			which := 0
			switch string(data[i+1 : nameEnd-1]) {
			case keyName:
			case valueName:
				which = 1
			default:
				return false
			}
			if seen[which] {
				return false
			}
			seen[which] = true
			if i = skipSpace(data, nameEnd); i >= len(data) || data[i] != ':' {
				return false
			}
			i = skipSpace(data, i+1)
			valEnd, ok := plainString(data, i)
			if !ok {
				return false
			}
			got[which] = text[i+1 : valEnd-1]
			if i = skipSpace(data, valEnd); i >= len(data) || data[i] != end {
				return false
			}
			i = skipSpace(data, i+1)
		}
		pair(got[0], got[1])
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == ']':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
	return false
}

// HasKeyOutside reports whether the JSON object data has a key that is not
// in known, or one it cannot tell (an escaped key); false for anything but
// an object. data is JSON that json.Unmarshal accepted.
func HasKeyOutside(data []byte, known map[string]bool) bool {
	data = TrimSpace(data)
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	for i := 1; i < len(data); {
		i = skipSpace(data, i)
		if data[i] != '"' {
			return false // '}': the end of the object
		}
		end := skipString(data, i)
		if key := data[i+1 : end-1]; bytes.IndexByte(key, '\\') >= 0 || !known[string(key)] {
			return true
		}
		i = skipValue(data, skipSpace(data, end)+1) // past the ':' and the value
		i = skipSpace(data, i) + 1                  // past the ',' or '}'
	}
	return false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isJSONSpace(data[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at or
// after i.
func skipValue(data []byte, i int) int {
	i = skipSpace(data, i)
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(data); i++ { // a number or a literal, up to what ends it
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// skipString returns the index just past the JSON string that starts at
// i (past the end of data for a string that does not end). Its closing
// quote is found by bytes.IndexByte: the first quote after an even run of
// backslashes.
func skipString(data []byte, i int) int {
	start := i + 1
	for i = start; i < len(data); i++ {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data) + 1
		}
		i += j
		k := i
		for k > start && data[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1
		}
	}
	return i + 1
}

// LastMember returns the value of the last member of the JSON object data
// that encoding/json decodes into a struct field named name: a key equal
// to name under Unicode simple case folding, escapes undone. found is false
// when no member matches (and for anything but an object). data is JSON
// that json.Unmarshal accepted.
//
// Most objects are read without a walk over their values: when data has
// no \u escape, a string that folds to the name is spelled as it, so it is
// found by the search for one of its letters (bytes.IndexByte), and only
// the members up to the last such string are walked to tell which is a
// key of data itself.
func LastMember(data []byte, name string) (value []byte, found bool) {
	data = TrimSpace(data)
	if len(data) < 2 || data[0] != '{' {
		return nil, false
	}
	var buf [maxNameStrings]int
	if at, ok := nameStrings(data, name, buf[:0]); ok {
		return lastMemberAt(data, at)
	}
	for i := skipSpace(data, 1); i < len(data) && data[i] == '"'; {
		end := skipString(data, i)
		start := skipSpace(data, skipSpace(data, end)+1) // past the ':'
		next := skipValue(data, start)
		if keyMatches(data[i:end], name) {
			value, found = data[start:next], true
		}
		i = skipSpace(data, skipSpace(data, next)+1) // past the ',' or '}'
	}
	return value, found
}

// maxNameStrings bounds the strings spelling the name that LastMember
// looks at; past it, it walks every member of the object.
const maxNameStrings = 8

// Elements calls each with every element of the JSON array data, in
// order, capped (elem[:len(elem):len(elem)]); it reports false for
// anything but an array. data is JSON that json.Unmarshal accepted.
func Elements(data []byte, each func(elem []byte)) bool {
	data = TrimSpace(data)
	if len(data) < 2 || data[0] != '[' {
		return false
	}
	i := skipSpace(data, 1)
	if data[i] == ']' {
		return true
	}
	for {
		end := skipValue(data, i)
		each(data[i:end:end])
		if i = skipSpace(data, end); i >= len(data) || data[i] != ',' {
			return i < len(data) && data[i] == ']'
		}
		i = skipSpace(data, i+1)
	}
}

// nameStrings appends to at where each string of data that folds to name
// starts, in order; ok is false when it cannot tell: data has a \u escape
// (which may spell a letter), more than maxNameStrings such strings, or
// name a letter that non-ASCII runes fold to (k, s) or one that is not an
// ASCII letter, digit or '_'.
//
// In JSON, a quote that no odd run of backslashes escapes delimits a
// string; the name's letters cannot come from the other escapes, so a
// string that folds to name is spelled as it, between such quotes.
func nameStrings(data []byte, name string, at []int) (_ []int, ok bool) {
	if len(name) == 0 || !isPlainName(name) || strings.ContainsAny(name, "kKsS") || bytes.Contains(data, []byte(`\u`)) {
		return nil, false
	}
	mid := len(name) / 2
	for _, c := range [2]byte{lower(name[mid]), upper(name[mid])} {
		for i := 0; ; i++ {
			j := bytes.IndexByte(data[i:], c)
			if j < 0 {
				break
			}
			i += j
			start, end := i-mid-1, i-mid+len(name)
			if start < 0 || end >= len(data) || data[start] != '"' || data[end] != '"' ||
				!asciiEqualFold(data[start+1:end], name) || escaped(data, start) {
				continue
			}
			if len(at) == maxNameStrings {
				return nil, false
			}
			at = append(at, start)
		}
		if lower(name[mid]) == upper(name[mid]) {
			break
		}
	}
	slices.Sort(at) // the lower-case letter's first, then the upper-case one's
	return at, true
}

// escaped reports whether an odd run of backslashes comes before data[i].
func escaped(data []byte, i int) bool {
	k := i
	for k > 0 && data[k-1] == '\\' {
		k--
	}
	return (i-k)%2 == 1
}

// lastMemberAt returns the value of the last member of the object data
// whose key starts at one of at (sorted); found is false when none is a
// key of data itself. The members are walked up to the last of at only.
func lastMemberAt(data []byte, at []int) (value []byte, found bool) {
	if len(at) == 0 {
		return nil, false
	}
	last := at[len(at)-1]
	for i := skipSpace(data, 1); i <= last && data[i] == '"'; {
		end := skipString(data, i)
		start := skipSpace(data, skipSpace(data, end)+1) // past the ':'
		next := skipValue(data, start)
		if _, isName := slices.BinarySearch(at, i); isName {
			value, found = data[start:next], true
		}
		i = skipSpace(data, skipSpace(data, next)+1) // past the ',' or '}'
	}
	return value, found
}

// keyMatches reports whether the quoted JSON string key decodes to name
// as encoding/json matches keys to fields.
func keyMatches(key []byte, name string) bool {
	text := key[1 : len(key)-1]
	if bytes.IndexByte(text, '\\') < 0 && utf8.Valid(text) {
		return bytes.EqualFold(text, []byte(name))
	}
	var s string
	if json.Unmarshal(key, &s) != nil {
		return false
	}
	return strings.EqualFold(s, name)
}

// isPlainName reports whether s has only ASCII letters, digits and '_'.
func isPlainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := lower(s[i]); (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
