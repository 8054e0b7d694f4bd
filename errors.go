package kryptogo

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// Sentinel errors, matched with errors.Is against the errors the SDK returns.
var (
	// ErrUnauthorized matches an *APIError with status 401 or 403: the API
	// key is wrong, revoked, or lacks the permission.
	ErrUnauthorized = errors.New("kryptogo: unauthorized")
	// ErrNotFound matches an *APIError with status 404.
	ErrNotFound = errors.New("kryptogo: not found")
	// ErrConflict matches an *APIError with status 409, such as a second
	// accept or reject of the same DD task.
	ErrConflict = errors.New("kryptogo: conflict")
	// ErrRateLimited matches an *APIError with status 429.
	ErrRateLimited = errors.New("kryptogo: rate limited")
	// ErrServerError matches an *APIError with a 5xx status.
	ErrServerError = errors.New("kryptogo: server error")
	// ErrInvalidRequest matches a *ValidationError: the request broke a rule
	// of the API reference and was not sent.
	ErrInvalidRequest = errors.New("kryptogo: invalid request")
	// ErrInvalidResponse matches a *ResponseError: a 2xx answer that is not
	// the JSON the endpoint documents.
	ErrInvalidResponse = errors.New("kryptogo: invalid response")
	// ErrMaybeSent matches the error of a POST that failed after its request
	// may have reached the API (the connection broke after the request was
	// written, the API answered 5xx, or its 2xx answer could not be
	// decoded): it may have created the task and
	// spent points. Check, for instance in Tasks.History by customer
	// reference, before sending it again.
	ErrMaybeSent = errors.New("kryptogo: the request may have reached the API; check before sending it again")
	// ErrRetryBudgetExhausted matches the error of a call that failed in a
	// way worth retrying but was not retried, because the client's retry
	// budget (WithRetryBudget) was spent by the failures of its other calls:
	// the API is failing broadly, and more retries would only add load. The
	// error also matches the failure itself (an *APIError, ErrServerError…).
	ErrRetryBudgetExhausted = errors.New("kryptogo: retry budget exhausted")
)

// maybeSentHint ends the message of every error that matches ErrMaybeSent,
// so a caller who only logs the error still learns to check first.
const maybeSentHint = " (the request may have reached the API; check before sending it again)"

// maybeSentError is a transport failure of a POST after bytes were written.
type maybeSentError struct{ err error }

func (e *maybeSentError) Error() string { return e.err.Error() + maybeSentHint }

// Unwrap returns the failure and ErrMaybeSent, so errors.Is matches both.
func (e *maybeSentError) Unwrap() []error { return []error{e.err, ErrMaybeSent} }

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
	v = string(redact.Blobs([]byte(s.m.String(v)), false))
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

// maxErrorBody caps APIError.Body, so a large error page is not kept whole.
const maxErrorBody = 64 << 10

// APIError is an answer from the API with a non-2xx status (or, for an
// endpoint whose 2xx body can carry a failure code, such as
// Tasks.SetMetadata, a 2xx answer with one).
//
// Body is the answer's body, capped at 64 KiB, with the API key and the
// request's personal values (names, birthdays, ID numbers) masked where it
// echoes them, in any letter case, composed or decomposed, escaped, in
// base64, a date in its common formats (the README's "Secrets and
// personal data" lists them), and base64 blobs (images) replaced by
// "[base64 withheld]". A body that echoes a secret in a spelling the
// masking does not know is replaced whole by "[withheld: it echoes the API
// key or a personal value]".
type APIError struct {
	StatusCode int           // HTTP status
	Code       int           // vendor code from the body; 0 when absent
	Message    string        // vendor message, or a summary of a non-JSON body
	Body       []byte        // body, capped at 64 KiB; see the note below
	Method     string        // request method
	Path       string        // request path, without the query
	RequestID  string        // from a request-id response header, when present
	RetryAfter time.Duration // from Retry-After, when present
}

// Error reads "kryptogo: POST /task/12/accepted: 409 Conflict: <message>".
// A POST that may have reached the API (5xx or redirect: ErrMaybeSent) adds
// " (the request may have reached the API; check before sending it again)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kryptogo: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + e.RequestID + "]")
	}
	if e.maybeSent() {
		b.WriteString(maybeSentHint)
	}
	return b.String()
}

// maybeSent reports a POST answered with 5xx or a redirect: the API got the
// request and may have created the task before failing or redirecting.
func (e *APIError) maybeSent() bool {
	redirected := e.StatusCode >= 300 && e.StatusCode <= 399 // e.g. post/redirect/get after creating
	return e.Method == http.MethodPost && (redirected || e.StatusCode >= 500 && e.StatusCode <= 599)
}

// Is makes errors.Is match the sentinel of the error's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServerError:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	case ErrMaybeSent:
		return e.maybeSent()
	}
	return false
}

// requestIDHeaders are the common names of request-id headers, tried in order.
var requestIDHeaders = []string{"X-Request-Id", "X-Request-ID", "Request-Id", "X-Amzn-Requestid", "X-Amzn-Trace-Id", "Cf-Ray", "X-Trace-Id"}

func newAPIError(method, path string, resp *http.Response, body []byte, retryAfter time.Duration) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		Method:     method,
		Path:       path,
		RetryAfter: retryAfter,
		Body:       capBytes(body, maxErrorBody),
	}
	e.RequestID = requestIDFrom(resp.Header)
	e.Code, e.Message = parseErrorBody(body, resp.Header.Get("Content-Type"))
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		e.Message = redirectMessage(resp.Header.Get("Location"))
	}
	return e
}

// requestIDFrom returns the first request-id header of h, on one line and
// at most 200 characters; "" when there is none.
func requestIDFrom(h http.Header) string {
	for _, name := range requestIDHeaders {
		if v := h.Get(name); v != "" {
			return oneLine(v, 200)
		}
	}
	return ""
}

// redirectMessage explains a redirect the SDK did not follow. It names the
// target's origin only: the rest of the URL may carry personal data.
func redirectMessage(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "redirect not followed"
	}
	return fmt.Sprintf("redirect to %s://%s not followed", u.Scheme, u.Host)
}

func capBytes(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return append([]byte(nil), b...)
}

// parseErrorBody finds a vendor code and message in an error body of any of
// the shapes seen: {"code":N,"message"|"msg"|"error":...}, {"error":{...}},
// an HTML page from a proxy, plain text, or nothing.
func parseErrorBody(body []byte, contentType string) (int, string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return 0, ""
	}
	if trimmed[0] == '{' {
		if code, msg, ok := parseJSONError(trimmed); ok {
			return code, msg
		}
	}
	if looksLikeHTML(trimmed, contentType) {
		return 0, htmlSummary(trimmed)
	}
	return 0, oneLine(string(trimmed), 200)
}

func parseJSONError(body []byte) (int, string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return 0, "", false
	}
	code := jsonInt(obj["code"])
	if code == 0 {
		code = jsonInt(obj["status_code"])
	}
	for _, key := range []string{"message", "msg", "error", "error_message", "error_description", "detail", "details"} {
		if msg := jsonMessage(obj[key]); msg != "" {
			return code, oneLine(msg, 500), true
		}
	}
	if code != 0 {
		return code, "", true
	}
	return 0, oneLine(string(body), 200), true
}

// jsonInt reads a number or numeric string; anything else is 0.
func jsonInt(raw json.RawMessage) int {
	text, isNull, err := scalarText(raw)
	if err != nil || isNull {
		return 0
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0
	}
	return n
}

// jsonMessage reads a string, or the message inside a nested error object.
func jsonMessage(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s)
	}
	var nested map[string]json.RawMessage
	if err := json.Unmarshal(raw, &nested); err == nil {
		for _, key := range []string{"message", "msg", "error", "description"} {
			if msg := jsonMessage(nested[key]); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func looksLikeHTML(body []byte, contentType string) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	head := strings.ToLower(string(body[:min(len(body), 64)]))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

var (
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	h1RE    = regexp.MustCompile(`(?is)<h1[^>]*>(.*?)</h1>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// htmlSummary names an HTML error page by its title or first heading.
func htmlSummary(body []byte) string {
	for _, re := range []*regexp.Regexp{titleRE, h1RE} {
		if m := re.FindSubmatch(body); m != nil {
			text := oneLine(html.UnescapeString(tagRE.ReplaceAllString(string(m[1]), " ")), 200)
			if text != "" {
				return "HTML page: " + text
			}
		}
	}
	return fmt.Sprintf("HTML page (%d bytes)", len(body))
}

// oneLine folds white space and cuts s to n bytes on a rune boundary. It
// reads no more of s than the n bytes it keeps need: an error body may be
// 64 KiB of short words.
func oneLine(s string, n int) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		char := s[i : i+size] // invalid UTF-8 is kept as it is
		i += size
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteString(char)
		if b.Len() > n {
			break
		}
	}
	folded := b.String()
	if len(folded) <= n {
		return folded
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(folded[cut]) {
		cut--
	}
	return folded[:cut] + "…"
}

// ResponseError is a 2xx answer the SDK could not use: not JSON, not the
// documented shape, or too large. It matches ErrInvalidResponse, and, for a
// POST, ErrMaybeSent: the API answered 2xx, so it acted.
type ResponseError struct {
	Method     string
	Path       string
	StatusCode int
	// Snippet describes the body by its shape (size and first JSON token),
	// never by its content: a 2xx body holds names, ID numbers and birthdays.
	Snippet string
	Err     error // the decoding error, without values from the body
}

// Error names the request, the status and the shape of the body.
func (e *ResponseError) Error() string {
	msg := fmt.Sprintf("kryptogo: %s %s: %d: unexpected response: %v", e.Method, e.Path, e.StatusCode, e.Err)
	if e.Snippet != "" {
		msg += " (body: " + e.Snippet + ")"
	}
	if e.maybeSent() {
		msg += maybeSentHint
	}
	return msg
}

// Unwrap returns the decoding error.
func (e *ResponseError) Unwrap() error { return e.Err }

// Is makes errors.Is match ErrInvalidResponse, and ErrMaybeSent for a POST.
func (e *ResponseError) Is(target error) bool {
	return target == ErrInvalidResponse || (target == ErrMaybeSent && e.maybeSent())
}

// maybeSent reports an answer to a POST: a 2xx means the API acted (it
// may have created a task and spent points) even if the answer is unusable.
func (e *ResponseError) maybeSent() bool { return e.Method == http.MethodPost }

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

// FieldError is one broken rule of a request.
type FieldError struct {
	Field   string // JSON name of the field, with its path: "[0].target.name"
	Message string
}

// Error reads "field: message".
func (f FieldError) Error() string { return f.Field + ": " + f.Message }

// ValidationError lists every rule a request broke. It is returned before
// any request is sent and matches ErrInvalidRequest.
type ValidationError struct {
	Fields []FieldError
}

// Error lists every broken rule.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "kryptogo: invalid request: " + strings.Join(parts, "; ")
}

// Is makes errors.Is match ErrInvalidRequest.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRequest }

// Field returns the first error about the named field.
func (e *ValidationError) Field(name string) (FieldError, bool) {
	for _, f := range e.Fields {
		if f.Field == name {
			return f, true
		}
	}
	return FieldError{}, false
}

// WaitError is returned by Tasks.Wait and IDV.Wait when the wait ends before
// the task is done: the context ended, or fetching the task failed for good.
// It carries the last state seen.
type WaitError struct {
	ID       ID
	Polls    int          // how many times the task was fetched
	LastTask *TaskSummary // set by Tasks.Wait: the last summary fetched, or nil
	LastIDV  *IDVTask     // set by IDV.Wait: the last IDV task fetched, or nil
	Err      error        // why the wait ended

	kind string // "task" or "IDV task"
}

// Error names the task, its last state and the cause.
func (e *WaitError) Error() string {
	state := "no state fetched"
	switch {
	case e.LastTask != nil:
		state = fmt.Sprintf("last progress %d%%", e.LastTask.Progress)
	case e.LastIDV != nil:
		state = "last state " + e.LastIDV.State.String()
	}
	return fmt.Sprintf("kryptogo: waiting for %s %d after %d polls (%s): %v", cmp.Or(e.kind, "task"), e.ID, e.Polls, state, e.Err)
}

// Unwrap returns the cause.
func (e *WaitError) Unwrap() error { return e.Err }

// LogValue logs the error as its task, polls, last state and cause, never
// the personal data of the last task fetched. It has a value receiver, so
// a WaitError logged by value is covered too.
func (e WaitError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int64("id", int64(e.ID)), slog.String("kind", cmp.Or(e.kind, "task")), slog.Int("polls", e.Polls)}
	switch {
	case e.LastTask != nil:
		attrs = append(attrs, slog.Int("last_progress", e.LastTask.Progress))
	case e.LastIDV != nil:
		attrs = append(attrs, slog.String("last_state", e.LastIDV.State.String()))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// validator collects every broken rule of a request, so the caller sees them
// all at once instead of fixing one per attempt.
type validator struct {
	prefix string
	fields []FieldError
}

// add records msg against field, unless msg is empty (the rule passed).
func (v *validator) add(field, msg string) {
	if msg != "" {
		v.fields = append(v.fields, FieldError{Field: v.prefix + field, Message: msg})
	}
}

// addf records a formatted message against field.
func (v *validator) addf(field, format string, args ...any) {
	v.add(field, fmt.Sprintf(format, args...))
}

// required records a missing value unless s has a non-space character.
func (v *validator) required(field, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.add(field, "is required")
		return false
	}
	return true
}

// optional runs rule on s when s is set.
func (v *validator) optional(field, s string, rule func(string) string) {
	if s != "" {
		v.add(field, rule(s))
	}
}

// nested runs fn with field names prefixed by prefix.
func (v *validator) nested(prefix string, fn func()) {
	saved := v.prefix
	v.prefix += prefix
	fn()
	v.prefix = saved
}

// err returns the collected errors as a *ValidationError, or nil.
func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// invalid returns a ValidationError about one field.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// validateID checks a path parameter before it goes into a URL.
func validateID(field string, id ID) error {
	var v validator
	v.id(field, id)
	return v.err()
}

// id records an id that is not positive: ids go into paths.
func (v *validator) id(field string, id ID) {
	if id <= 0 {
		v.addf(field, "must be a positive id, got %d", id)
	}
}

// request is the one shape of every request type: defaults fills in, on
// the copy that is sent, what a caller may leave out, and validate records
// every rule of the API reference the request breaks.
type request[R any] interface {
	*R
	defaults()
	validate(v *validator)
}

// pathID is an id parameter of a request's path.
type pathID struct {
	field string
	id    ID
}

// prepare returns the copy of req to send, with its defaults filled in,
// or a *ValidationError listing every broken rule of the path ids and of
// req. The caller's value is never modified.
func prepare[R any, P request[R]](req *R, ids ...pathID) (*R, error) {
	var v validator
	for _, p := range ids {
		v.id(p.field, p.id)
	}
	if req == nil {
		v.add("request", "is required")
		return nil, v.err()
	}
	out := *req
	P(&out).defaults()
	P(&out).validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return &out, nil
}
