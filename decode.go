package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kyabc/kryptogo-go/internal/jsonkeys"
	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// failedAnswer is an answer model whose 2xx body can still report a
// failure, as {"code": 1003, "message": "..."} does for some endpoints.
type failedAnswer interface {
	failed() bool
}

// answer decodes a 2xx answer into out; when out reports the answer as a
// failure, it is the *APIError an error status with that body would be:
// request id kept, key and personal values masked.
func answer(cfg *callConfig, method, path string, res result, out any, mask *callMask) error {
	if err := decode(cfg, method, path, res, out); err != nil {
		return maybeSentIfBlind(res, err)
	}
	if f, ok := out.(failedAnswer); ok && f.failed() {
		return maybeSentIfBlind(res, apiError(cfg.maxBody, method, path, res, mask))
	}
	return nil
}

// decode reads a 2xx answer into out, in one pass: the body is parsed once
// and a model that keeps its JSON (RawJSON) gets the body itself, with no
// copy, since readBody allocated it for this answer alone. Its errors
// describe the body by its shape only: a 2xx body holds names, ID numbers
// and birthdays, and errors end up in logs.
func decode(cfg *callConfig, method, path string, res result, out any) error {
	bad := func(err error) error {
		return &ResponseError{Method: method, Path: path, StatusCode: res.status,
			Snippet: bodyShape(res.body, res.truncated), Err: err}
	}
	if res.truncated {
		return bad(fmt.Errorf("body exceeds %d bytes (WithMaxResponseBytes)", cfg.maxBody))
	}
	if out == nil {
		return nil
	}
	// Only JSON's own white space: a body framed by any other space (a
	// vertical tab, a no-break space) is not JSON and must fail to decode.
	body := jsonscan.TrimSpace(res.body)
	if len(body) == 0 {
		return bad(errors.New("empty body"))
	}
	if raw, ok := out.(*json.RawMessage); ok {
		if !json.Valid(body) {
			return bad(errors.New("body is not JSON"))
		}
		*raw = body
		return nil
	}
	target := out
	if m, ok := out.(plainDecoder); ok {
		target = m.decodeTarget() // skip the UnmarshalJSON that nested values need
	}
	if len(body) < cutAbove || !decodeCut(body, target, out) {
		if err := decodeInto(body, target, out); err != nil {
			return bad(valueFreeDecodeError(err))
		}
	}
	if m, ok := out.(rawKeeper); ok {
		m.setRaw(body)
	}
	return nil
}

// rawMembers is a response model with top-level members kept as raw JSON
// (json.RawMessage) whose size the API does not bound: a task's result, a
// KYA's transactions. Such a model sets no defaults before a decode (it is
// no plainDecoder that does): decodeCut may start it again from zero.
type rawMembers interface {
	rawMemberNames() []string // at most maxRawMembers, plain ASCII
	setRawMember(n int, raw json.RawMessage)
}

const (
	// cutAbove is the body size from which decodeCut reads a model's raw
	// members itself: below it, the extra pass costs more than it saves.
	cutAbove = 16 << 10
	// maxRawMembers bounds rawMemberNames.
	maxRawMembers = 4
)

// decodeCut decodes a big body into target without its raw members, and
// reports whether it did; when it did not, the body is decoded as a whole.
// encoding/json would scan a raw member three times (validating the body,
// finding the member's end, copying it): here one pass over the body
// (jsonkeys.Members) validates it and finds the members, the rest of the
// body, each member replaced by null, is decoded, and each member is a
// slice of the body, which the model owns (decode). Whatever the pass
// cannot vouch for (invalid JSON, a member's name in another case or
// repeated) and any decoding error go to the whole decode, so that
// values and errors stay exactly as they were.
func decodeCut(body []byte, target, out any) bool {
	m, ok := out.(rawMembers)
	if !ok {
		return false
	}
	names := m.rawMemberNames()
	var buf [maxRawMembers]jsonkeys.Span
	spans := buf[:len(names)]
	if ok, err := jsonkeys.Members(body, names, spans); !ok || err != nil {
		return false
	}
	order := buf // the members found, in the order of the body
	found := order[:0]
	for _, sp := range spans {
		if sp != (jsonkeys.Span{}) {
			found = append(found, sp)
		}
	}
	slices.SortFunc(found, func(a, b jsonkeys.Span) int { return a.Start - b.Start })
	size := len(body)
	for _, sp := range found {
		size -= sp.End - sp.Start - len("null")
	}
	rest, from := make([]byte, 0, size), 0
	for _, sp := range found {
		rest = append(append(rest, body[from:sp.Start]...), "null"...)
		from = sp.End
	}
	rest = append(rest, body[from:]...)
	if decodeInto(rest, target, out) != nil {
		// Start again from the zero value: the whole decode reports the
		// error, with its offsets in the body.
		reflect.ValueOf(target).Elem().SetZero()
		return false
	}
	for n, sp := range spans {
		if sp != (jsonkeys.Span{}) {
			m.setRawMember(n, body[sp.Start:sp.End:sp.End])
		}
	}
	return true
}

// shadowDecoder is a response model that decodes itself through a type
// encoding/json reads faster than its own, to the same values: a
// TaskDetail (taskDetailShadow), the receipts of POST /task
// (createdTasks).
type shadowDecoder interface {
	// decodeShadow decodes data, which the answer owns (the model may
	// keep slices of it, as RawJSON does), and reports whether it did;
	// when it did not, the model is decoded again as itself (decodeInto).
	decodeShadow(data []byte) bool
}

// shadowType returns the struct type of M's fields from the one named
// first on, with the types in replace replaced, laid out as they are in M:
// a view of M from that field on that encoding/json decodes with the
// replacements' methods (or their lack of any). The fields before first
// must have no JSON of their own (rawResponse). A layout that differs,
// which reflect.StructOf cannot give for such fields, panics at init.
func shadowType[M any](first string, replace map[reflect.Type]reflect.Type) reflect.Type {
	model := reflect.TypeFor[M]()
	start, ok := model.FieldByName(first)
	if !ok || len(start.Index) != 1 {
		panic("kryptogo: shadowType: no field " + first)
	}
	var fields []reflect.StructField
	for i := start.Index[0]; i < model.NumField(); i++ {
		f := model.Field(i)
		if r, ok := replace[f.Type]; ok {
			// Only a type of the same underlying type (type plain T) keeps
			// the memory as the model's: the same layout, the same pointers
			// for the garbage collector.
			if r.Kind() != f.Type.Kind() || !r.ConvertibleTo(f.Type) || r.Size() != f.Type.Size() {
				panic("kryptogo: shadowType: " + r.String() + " is no plain copy of " + f.Type.String())
			}
			f.Type = r
		}
		f.Index, f.Offset = nil, 0
		fields = append(fields, f)
	}
	shadow := reflect.StructOf(fields)
	for i := range shadow.NumField() {
		if shadow.Field(i).Offset+start.Offset != model.Field(start.Index[0]+i).Offset ||
			shadow.Field(i).Type.Size() != model.Field(start.Index[0]+i).Type.Size() {
			panic("kryptogo: shadowType: the layout of " + model.Name() + " differs")
		}
	}
	if shadow.Size()+start.Offset != model.Size() {
		panic("kryptogo: shadowType: the size of " + model.Name() + " differs")
	}
	return shadow
}

// decodeInto decodes data into target, out's decodeTarget or out itself
// (decode), or through out's shadow (shadowDecoder) when it has one. When
// the shadow cannot vouch for its decode, out is zeroed and decoded again
// as itself, with its own errors.
func decodeInto(data []byte, target, out any) error {
	if m, ok := out.(shadowDecoder); ok {
		if m.decodeShadow(data) {
			return nil
		}
		reflect.ValueOf(out).Elem().SetZero()
	}
	return json.Unmarshal(data, target)
}

// recordResponse fills the call's ResponseInfo (WithResponseInfo) with the
// answer of an attempt, if one came. A header that echoes the API key or a
// personal value of the request is masked as an error's text would be,
// and one whose name does is dropped. Masking is bounded per answer
// (maxMaskedHeaders): net/http accepts 10 MiB of headers, which a server
// could fill to make each call cost seconds of CPU. The shortest headers
// are masked first; the values past the bound are replaced by
// withheldHeader.
func recordResponse(cfg *callConfig, res result, mask *callMask) {
	if cfg.info == nil || res.status == 0 {
		return
	}
	scrub := mask.scrubber()
	header := make(http.Header, len(res.header))
	budget := maxMaskedHeaders
	for _, name := range shortestHeadersFirst(res.header) {
		if mask.nameEchoes(name) {
			continue
		}
		values := res.header[name]
		masked := make([]string, len(values))
		for i, v := range values {
			if budget -= len(v) + headerCost; budget < 0 {
				masked[i] = withheldHeader
				continue
			}
			masked[i] = scrub.text(v)
		}
		header[name] = masked
	}
	*cfg.info = ResponseInfo{StatusCode: res.status, Header: header, RequestID: requestIDFrom(header)}
}

// recordDate notes the Date header of an answer, when it has one that
// parses: the client keeps how far the API's clock runs behind its own
// (apiClock), which a lookup reads once a history page is answered.
//
// A Date is parsed, and the client's lag written, once per value and
// second of the client's clock: every answer of a second carries the same
// Date, and the callers of a busy client would otherwise all write one
// cache line. The lag kept is the first answer's, the closest to the
// API's clock (a Date is cut to the second); a Date repeated for longer
// (a cache's) is read again, as every answer was.
func (c *Client) recordDate(res result) {
	if res.status == 0 {
		return
	}
	raw := res.header.Get("Date")
	now := c.now()
	seen := c.clock.seen.Load()
	if seen == nil || seen.raw != raw || now.Sub(seen.at) >= time.Second || now.Before(seen.at) {
		var date time.Time
		var err error
		if seen != nil && seen.raw == raw {
			date, err = seen.date, seen.err
		} else {
			date, err = http.ParseTime(raw)
		}
		seen = &seenDate{raw: raw, date: date, err: err, at: now}
		if err == nil {
			c.clock.lag.Store(int64(apiClockLag(now, date)))
			c.clock.heard.Store(true)
		}
		c.clock.seen.Store(seen)
	}
}

// apiClock is what a client knows of the API's clock.
type apiClock struct {
	// lag is how far, in nanoseconds, the API's clock ran behind the
	// client's by the Date of the latest answers; negative when ahead, 0
	// when unknown.
	lag   atomic.Int64
	heard atomic.Bool              // a Date was read: lag is known, not merely 0
	seen  atomic.Pointer[seenDate] // the last Date read
}

// answered reports whether the client has read an answer of the API, with
// a Date or without one (a proxy may drop it): asking the API's clock again
// would tell no more.
func (k *apiClock) answered() bool {
	return k.heard.Load() || k.seen.Load() != nil
}

// seenDate is a Date header as read, and when by the client's clock.
type seenDate struct {
	raw  string
	date time.Time
	err  error // it did not parse
	at   time.Time
}

// maxAPIClockLag bounds how far behind (or ahead of) the client's the
// API's clock is taken to run. A Date further back is more likely a
// cache's or a broken clock's than the API's, and trusting it would open a
// lookup's window so wide that an older task of the same customer and
// target, created without this key, could pass for the send in doubt.
const maxAPIClockLag = time.Hour

// apiClockLag returns how far date, an answer's Date header, runs behind
// now, at most maxAPIClockLag either way: negative when ahead. A lead read
// as no lag left a key's send time before the send by the API's clock by
// the whole lead, and the lookup's window open as far before it, where an
// older task of the target passed for the send's.
func apiClockLag(now, date time.Time) time.Duration {
	return min(max(now.Sub(date), -maxAPIClockLag), maxAPIClockLag)
}

// apiNow is the time by the API's clock as far as the client knows it: its
// own, less how far the API's ran behind by the latest answer. A create's
// send time is recorded by it, since the API dates its tasks by its clock
// and another process may look the create up.
func (c *Client) apiNow() time.Time {
	return c.toAPIClock(c.now())
}

// toAPIClock converts local, a time by the client's clock, to the API's, as
// far as the client knows it now (the lag of the latest answers, at most
// maxAPIClockLag either way). It is the one place the lag is taken: every time a
// lookup compares with the API's creation_time is converted here once, and
// never again (a time converted twice opens a lookup's window by twice the
// lag, past the bound).
func (c *Client) toAPIClock(local time.Time) time.Time {
	return local.Add(-time.Duration(c.clock.lag.Load()))
}

// rawResponse keeps the JSON a top-level response was decoded from. The
// one decode route (decode) attaches the body (setRaw); models that are also decoded
// nested in another value (a task summary in a history page or a callback,
// a receipt in a batch) keep it in their UnmarshalJSON.
type rawResponse struct {
	raw json.RawMessage
}

// RawJSON returns the JSON the value was decoded from (nil if built in code).
func (r rawResponse) RawJSON() json.RawMessage { return r.raw }

// setRaw attaches data, which the value now owns, as its JSON.
func (r *rawResponse) setRaw(data json.RawMessage) { r.raw = data }

// rawKeeper is a response model that keeps the JSON it was decoded from:
// every model that embeds rawResponse.
type rawKeeper interface {
	setRaw(data json.RawMessage)
}

// plainDecoder is a response model with an UnmarshalJSON (for where it is
// decoded nested) that decode bypasses: decodeTarget returns
// the model as a method-less type to decode into, so the body is parsed
// once. A model with defaults of its own (IDVTask) sets them first.
type plainDecoder interface {
	decodeTarget() any
}

// decodeKeepingRaw decodes data into v's decodeTarget and keeps a copy of
// data for RawJSON: the UnmarshalJSON of the models decoded nested.
func decodeKeepingRaw[T any, P interface {
	*T
	plainDecoder
	rawKeeper
}](data []byte, v P) error {
	var decoded T
	if err := json.Unmarshal(data, P(&decoded).decodeTarget()); err != nil {
		return err
	}
	*v = decoded
	P(v).setRaw(append(json.RawMessage(nil), data...))
	return nil
}

// bodyShape describes a body without any of its content: "812 bytes, a JSON
// object". Of a body over the size cap only the head was kept: it is
// "over the size cap, a JSON object" (the cap is in the error).
func bodyShape(body []byte, truncated bool) string {
	size := fmt.Sprintf("%d bytes", len(body))
	if truncated {
		size = "over the size cap"
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		if truncated {
			return size
		}
		return "empty"
	}
	return size + ", " + firstTokenKind(trimmed[0])
}

func firstTokenKind(first byte) string {
	switch {
	case first == '{':
		return "a JSON object"
	case first == '[':
		return "a JSON array"
	case first == '"':
		return "a JSON string"
	case first == '-' || (first >= '0' && first <= '9'):
		return "a JSON number"
	case first == 't' || first == 'f':
		return "text or a JSON boolean"
	case first == 'n':
		return "text or JSON null"
	case first == '<':
		return "markup (HTML or XML)"
	}
	return "text"
}

// decodeError is a JSON decoding error described without the values the
// standard library quotes (a number's literal, the offending character).
type decodeError struct {
	msg   string
	cause error
}

func (e *decodeError) Error() string { return e.msg }

// Unwrap returns the error of encoding/json, for errors.As: a
// *json.SyntaxError (its text quotes one byte at most), or a copy of the
// *json.UnmarshalTypeError without the literal it quoted.
func (e *decodeError) Unwrap() error { return e.cause }

func valueFreeDecodeError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return &decodeError{fmt.Sprintf("invalid JSON at byte %d", syntaxErr.Offset), syntaxErr}
	case errors.As(err, &typeErr):
		valueFree := *typeErr
		valueFree.Value, _, _ = strings.Cut(typeErr.Value, " ") // "number 123" holds the value
		field := typeErr.Field
		if field == "" {
			field = "(top level)"
		}
		return &decodeError{fmt.Sprintf("cannot decode a JSON %s into %s of type %v", valueFree.Value, field, typeErr.Type), &valueFree}
	}
	return err // the SDK's own decoders name no values
}
