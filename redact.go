package kryptogo

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// scrubber masks what must never leave the SDK in an error or a log: the
// API key and the personal values of the request, in every spelling the
// redactor knows (any letter case, composed or decomposed, a date in its
// common formats, the key in hex, escaped, in base64 wrapped or not).
// Built per use: the client keeps no masker, so printing it can never meet
// the key.
type scrubber struct{ m *redact.Matcher }

// scrubber returns a masker of the key and of personal, the personal values
// of the request at hand. A request without any shares the client's masker
// of the key: building one spells the key some twenty ways.
func (c *Client) scrubber(personal []string) scrubber {
	var values []string
	for _, v := range personal {
		if maskable(v) {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return scrubber{c.creds.keyMask()}
	}
	return scrubber{redact.New(c.creds.key(), values...)}
}

// minPersonalLen is the shortest personal value masked, in bytes: masking
// a one- or two-letter name ("Li") would shred every message.
const minPersonalLen = 3

// maskable reports whether a personal value is long enough to be masked
// (minPersonalLen).
func maskable(v string) bool { return len(strings.TrimSpace(v)) >= minPersonalLen }

// maxMaskedHeaders bounds the header text ResponseInfo masks per answer,
// as maxErrorBody bounds the body an APIError keeps. Each value costs its
// length and headerCost, so that many short values are bounded too.
const (
	maxMaskedHeaders = 64 << 10
	headerCost       = 64
)

// withheldHeader stands for a header value past maxMaskedHeaders.
const withheldHeader = "[withheld: the answer's headers exceed 64 KiB]"

// shortestHeadersFirst returns the names of h, the shortest values first
// (then by name): the headers a caller reads (Retry-After, a request id)
// are short, and are masked before the budget runs out.
func shortestHeadersFirst(h http.Header) []string {
	size := func(name string) int {
		n := 0
		for _, v := range h[name] {
			n += len(v) + headerCost
		}
		return n
	}
	names := slices.Collect(maps.Keys(h))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(size(a), size(b)), strings.Compare(a, b)) })
	return names
}

// maxText bounds a text masked for an error, a log record or a header:
// net/http quotes a malformed header line whole in its error (it accepts
// 10 MiB of headers), and masking reads a text in several decoded layers.
// A longer text keeps its first maxText bytes, masked, and ends in "…".
const maxText = 8 << 10

// text masks v, cut to maxText bytes; text that still reveals a secret
// once decoded is withheld.
func (s scrubber) text(v string) string {
	if len(v) > maxText { // masked over the reach past the cut, then cut
		return string(s.keep([]byte(s.head(v)), true, maxText)) + "…"
	}
	if s.m.Plain(v) { // a request id, most often: nothing to mask or decode
		return v
	}
	v = s.m.String(v)
	if len(v) >= redact.MinBlob { // a shorter text holds no blob: no copies
		v = string(redact.Blobs([]byte(v), false))
	}
	if s.leaks(v) {
		return withheld
	}
	return v
}

// bytes masks b, which is a cut text when truncated.
func (s scrubber) bytes(b []byte, truncated bool) []byte {
	return redact.Blobs(s.m.Bytes(b, truncated), truncated) // an echoed image
}

func (s scrubber) leaks(v string) bool { return s.m.Leaks(v) }

// keep masks window, a text read reach bytes past n when it is longer than
// n (truncated says it is longer still), and returns at most its first n
// bytes. Masking runs before the cut, so a secret the cut would split is
// still seen whole; a window that reveals a secret in a spelling the
// masking does not know is withheld whole.
func (s scrubber) keep(window []byte, truncated bool, n int) []byte {
	masked := s.bytes(window, truncated)
	if s.leaks(string(masked)) {
		return []byte(withheld)
	}
	if len(masked) <= n {
		return masked
	}
	return s.bytes(masked[:n], true) // drops a trailing start of a spelling
}

// wrap returns err, its text prefixed, with its text and its whole chain
// masked.
func (s scrubber) wrap(prefix string, err error) error {
	return &redactedError{msg: s.text(prefix + s.head(err.Error())), err: s.chain(err)}
}

// head returns as much of v as text reads: a text of megabytes is not
// copied again only to be cut.
func (s scrubber) head(v string) string { return v[:min(len(v), maxText+s.m.Reach())] }

// withheld stands for text that echoed a secret in a spelling the masking
// does not know.
const withheld = "[withheld: it echoes the API key or a personal value]"

// redactedError is a failure whose text went through the client's masking
// (net/http quotes what a broken server sent, which may echo the key).
// Unwrap returns a masked copy of the original's chain (scrubber.chain),
// so errors.Is and errors.As still see context.DeadlineExceeded, a
// net.Error or an x509 error, and nothing below reveals what the text
// masks.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the masked copy of the original error.
func (e *redactedError) Unwrap() error { return e.err }

// callMask masks what one call must never let out: the API key and the
// personal values of its request. Its scrubber is built when first needed
// and then kept for the rest of the call: building one spells each secret
// some forty ways (escapes, base64 runs, dates), and a failed attempt
// needs it for its log record, its ResponseInfo and its error. A call
// without personal values shares the client's masker of the key, which
// its credentials hold behind a func, as they hold the key: no printing of
// the Client can meet it.
type callMask struct {
	c        *Client
	personal []string
	built    scrubber
}

// maskFor returns the mask of a call that sends body with the
// configuration cfg.
func (c *Client) maskFor(body *requestBody, cfg *callConfig) callMask {
	return callMask{c: c, personal: slices.Concat(body.personalValues(), cfg.personal)}
}

// withPersonal makes a call mask values as personal values of its request:
// a call the SDK makes on its own as part of another (CreateOnce's lookup
// in the history) carries none itself, but its answer comes from the
// server that was just sent them, and its errors are the other call's.
func withPersonal(values []string) Option {
	return func(s *settings) error {
		s.personal = slices.Concat(s.personal, values)
		return nil
	}
}

// scrubber returns the call's scrubber, building it on first use.
func (m *callMask) scrubber() scrubber {
	if m.built.m == nil {
		m.built = m.c.scrubber(m.personal)
	}
	return m.built
}

// reach is the reach of the call's scrubber, found from the lengths of the
// secrets without building it: the reach of the longest one masked.
func (m *callMask) reach() int {
	longest := len(m.c.creds.key())
	for _, v := range m.personal {
		if maskable(v) {
			longest = max(longest, len(strings.TrimSpace(v))) // the matcher masks values trimmed
		}
	}
	return redact.Reach(longest)
}

// nameEchoes reports whether a header name holds the API key or a personal
// value. net/http changes the case of header names, so case is ignored; a
// name holds no other spelling (no quotes, spaces or percent signs).
func (m *callMask) nameEchoes(name string) bool {
	name = strings.ToLower(name)
	if strings.Contains(name, strings.ToLower(m.c.creds.key())) {
		return true
	}
	for _, v := range m.personal {
		if maskable(v) && strings.Contains(name, strings.ToLower(v)) {
			return true
		}
	}
	return false
}

// The personal values each request carries. The request path masks them,
// as it masks the API key, in every error and log record it produces: a
// 400 answer may quote the submitted name or birthday. A customer
// reference is the caller's own id for the customer, not personal data by
// itself, and is not masked; nor are countries and document types.

// personalData is a request body that names the personal values it
// carries: every request type of the SDK, beside its validate.
type personalData interface {
	personalValues() []string
}

// personalKeys are the JSON keys whose string values are personal, as the
// API spells them, for bodies the SDK did not build (Do with a map, raw
// JSON or a caller's struct).
var personalKeys = map[string]bool{
	"name": true, "birthday": true, "id_number": true, "full_name": true, "first_name": true, "last_name": true,
	"expected_name": true, "expected_birthday": true, "expected_id_number": true,
	"expected_issuing_date": true, "expected_expiry_date": true, "tw_id_apply_date": true, "tw_id_issue_site_id": true,
}

// personalValuesInJSON returns the string values of personalKeys anywhere
// in a JSON document, read token by token (the body may hold images).
func personalValuesInJSON(doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var out []string
	var stack []bool   // per open container: is it an object
	expectKey := false // the next string of the current object is a key
	key := ""
	for {
		tok, err := dec.Token()
		if err != nil { // the end, or not JSON: nothing more to find
			return out
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				stack = append(stack, tok == '{')
			} else if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				key, expectKey = tok, false
				continue
			}
			if personalKeys[key] && tok != "" {
				out = append(out, tok)
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1]
	}
}

func nonEmpty(values ...string) []string {
	out := values[:0]
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// redactedView is how a value that holds personal data prints and logs:
// its type and a few ids and states, never a name, a birthday, an ID
// number, an image, a secret or the JSON it was decoded from.
type redactedView struct {
	typeName string
	attrs    []slog.Attr
}

func view(typeName string, attrs ...slog.Attr) redactedView {
	return redactedView{typeName: typeName, attrs: attrs}
}

func idAttr(key string, id ID) slog.Attr { return slog.Int64(key, int64(id)) }

// String reads "TypeName{key: value, ...}".
func (r redactedView) String() string {
	var b strings.Builder
	b.WriteString(r.typeName)
	b.WriteByte('{')
	for i, a := range r.attrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Key)
		b.WriteString(": ")
		b.WriteString(a.Value.String())
	}
	b.WriteByte('}')
	return b.String()
}

// format writes String for every verb (quoted for %q). Being the whole of
// a type's Format, it also covers %#v, which would otherwise print every
// field, unexported ones included.
func (r redactedView) format(f fmt.State, verb rune) { formatText(f, verb, r.String()) }

// formatText writes s whatever the verb, quoted for %q.
func formatText(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

func (r redactedView) logValue() slog.Value { return slog.GroupValue(r.attrs...) }
