package kryptogo

import (
	"bytes"
	"cmp"
	"context"
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

	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// Sentinel errors, matched with errors.Is against the errors the SDK returns.
var (
	ErrUnauthorized    = errors.New("kryptogo: unauthorized")     // APIError 401 or 403
	ErrNotFound        = errors.New("kryptogo: not found")        // APIError 404
	ErrConflict        = errors.New("kryptogo: conflict")         // APIError 409, such as a second decision
	ErrRateLimited     = errors.New("kryptogo: rate limited")     // APIError 429
	ErrServerError     = errors.New("kryptogo: server error")     // APIError 5xx
	ErrInvalidRequest  = errors.New("kryptogo: invalid request")  // ValidationError: nothing was sent
	ErrInvalidResponse = errors.New("kryptogo: invalid response") // ResponseError: a 2xx that is not the documented JSON
	// ErrMaybeSent: a POST that may have reached the API and created a task
	// (broken after writing, a 5xx, an unreadable 2xx). Check before sending
	// it again (Tasks.FindCreated), or use an IdempotencyKey or CreateOnce.
	ErrMaybeSent            = errors.New("kryptogo: the request may have reached the API; check before sending it again")
	ErrRetryBudgetExhausted = errors.New("kryptogo: retry budget exhausted") // not retried: WithRetryBudget's budget is spent
)

// maybeSentHint ends the message of every error that matches ErrMaybeSent,
// so a caller who only logs the error still learns to check first.
const maybeSentHint = " (the request may have reached the API; check before sending it again)"

// maybeSentError is a transport failure of a POST after bytes were written.
type maybeSentError struct{ err error }

func (e *maybeSentError) Error() string { return e.err.Error() + maybeSentHint }

// Unwrap returns the failure and ErrMaybeSent, so errors.Is matches both.
func (e *maybeSentError) Unwrap() []error { return []error{e.err, ErrMaybeSent} }

// maxErrorBody caps APIError.Body, so a large error page is not kept whole.
const maxErrorBody = 64 << 10

// APIError is an answer with a non-2xx status (or a 2xx reporting a failure
// code, as Tasks.SetMetadata's can); Body and Message are masked.
type APIError struct {
	StatusCode int           // HTTP status
	Code       int           // vendor code from the body; 0 when absent
	Message    string        // vendor message, or a summary of a non-JSON body
	Body       []byte        // body, capped at 64 KiB, masked
	Method     string        // request method
	Path       string        // request path, without the query
	RequestID  string        // from a request-id response header, when present
	RetryAfter time.Duration // from Retry-After, when present
}

// Error reads "kryptogo: POST /task/12/accepted: 409 Conflict: <message>".
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
	text, isNull, err := jsonscan.ScalarText(raw)
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
	if len(s) <= n && plainToken(s) {
		return s // what the loop below would build, without building it
	}
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

// plainToken reports whether s is printable ASCII without white space, as
// request ids are: oneLine keeps such a text as it is.
func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ResponseError is a 2xx answer the SDK could not use; it matches
// ErrInvalidResponse, and ErrMaybeSent for a POST.
type ResponseError struct {
	Method     string
	Path       string
	StatusCode int
	Snippet    string // the body's size and first JSON token, never its content
	Err        error  // the decoding error, without values from the body
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

// FieldError is one broken rule of a request.
type FieldError struct {
	Field   string // JSON name of the field, with its path: "[0].target.name"
	Message string
}

// Error reads "field: message".
func (f FieldError) Error() string { return f.Field + ": " + f.Message }

// ValidationError lists every rule a request broke; nothing was sent.
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

// WaitError ends Tasks.Wait and IDV.Wait before the task is done (ctx
// ended, or a fetch failed for good), with the last state seen.
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

// LogValue logs the error as its task, polls, last state and cause.
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

// attemptError turns a failed attempt into the error the caller sees, its text
// masked of the key and of the request's personal values.
func attemptError(ctx context.Context, cfg *callConfig, method, path string, res result, mask *callMask) error {
	if res.err == nil {
		return maybeSentIfBlind(res, apiError(cfg.maxBody, method, path, res, mask))
	}
	err := res.err
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // its message repeats the URL, query included
	}
	switch {
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("attempt timed out after %v (WithTimeout): %w", cfg.timeout, err)
	}
	err = mask.scrubber().wrap("kryptogo: "+method+" "+path+": ", err)
	if !idempotent(method) && res.wrote {
		return &maybeSentError{err: err}
	}
	return err
}

// apiError builds the *APIError of a non-2xx answer, without the API key
// or the personal values of the request: a proxy or debug endpoint may
// echo request headers back, and a 400 may quote the submitted name.
func apiError(maxBody int64, method, path string, res result, mask *callMask) *APIError {
	scrub := mask.scrubber()
	body := scrub.keep(res.body, res.truncated, int(min(maxBody, maxErrorBody)))
	resp := &http.Response{StatusCode: res.status, Header: res.header}
	e := newAPIError(method, path, resp, body, res.retryAfter)
	e.Message = scrub.text(e.Message)
	e.RequestID = scrub.text(e.RequestID)
	return e
}

// maybeSentIfBlind makes err, the failure of an answered attempt, match
// ErrMaybeSent when the transport hid the attempt from the SDK: it may have
// sent the POST before (a retrying transport keeps the last answer).
func maybeSentIfBlind(res result, err error) error {
	if res.blind && !errors.Is(err, ErrMaybeSent) {
		return &maybeSentError{err: err}
	}
	return err
}
