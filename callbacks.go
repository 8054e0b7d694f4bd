package kryptogo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// ErrInvalidSignature is returned by CallbackSigner.Verify for a missing,
// malformed or wrong signature.
var ErrInvalidSignature = errors.New("kryptogo: invalid callback signature")

// ErrInvalidCallback matches an error of ParseCallback, ParseTaskCallback
// and ParseIDVCallback: the body is not a callback the SDK knows.
var ErrInvalidCallback = errors.New("kryptogo: invalid callback")

// CallbackKind tells a DD task callback from an IDV callback.
type CallbackKind int

// The kinds of callback.
const (
	CallbackTask CallbackKind = iota + 1 // a DD task summary
	CallbackIDV                          // an IDV task
)

// String returns "task", "idv", or CallbackKind(N).
func (k CallbackKind) String() string {
	return enumName(map[CallbackKind]string{CallbackTask: "task", CallbackIDV: "idv"}, k, "CallbackKind")
}

// CallbackEvent is one decoded callback: exactly one of Task and IDV is set.
type CallbackEvent struct {
	Kind CallbackKind
	Task *TaskSummary
	IDV  *IDVTask
	// Params are the callback URL's query parameters, without the
	// signature. CallbackHandler sets them; they are trustworthy when the
	// handler verified a signature.
	Params url.Values
	// Verified reports that the URL's signature was checked.
	Verified bool
	// Confirmed reports that Task or IDV was fetched from the API rather
	// than taken from the body.
	Confirmed bool
}

// ID returns the id of the task or IDV task the callback is about.
func (e *CallbackEvent) ID() ID {
	switch {
	case e.Task != nil:
		return e.Task.TaskID
	case e.IDV != nil:
		return e.IDV.IDVTaskID
	}
	return 0
}

// Key returns a stable idempotency key for the state the callback reports:
// the same callback delivered twice has the same key, and a later change of
// the same task (completion, then acceptance) has another.
//
// A task's key is built from its id, update time, progress and accepted
// status; an IDV task's from its id, state, audit status and audit time.
func (e *CallbackEvent) Key() string {
	switch {
	case e.Task != nil:
		t := e.Task
		accepted := "undecided"
		if t.Report != nil && t.Report.Accepted != nil {
			accepted = strconv.FormatBool(*t.Report.Accepted)
		}
		return fmt.Sprintf("task:%d:%d:%d:%s", t.TaskID, t.UpdateTime.Unix(), t.Progress, accepted)
	case e.IDV != nil:
		v := e.IDV
		return fmt.Sprintf("idv:%d:%d:%s:%d", v.IDVTaskID, v.State, v.AuditStatus, v.AuditTimestamp.Unix())
	}
	return ""
}

// RawJSON returns the JSON of the record the event carries.
func (e *CallbackEvent) RawJSON() json.RawMessage {
	switch {
	case e.Task != nil:
		return e.Task.RawJSON()
	case e.IDV != nil:
		return e.IDV.RawJSON()
	}
	return nil
}

// LogValue logs the event as its kind, id and key: never its personal data.
func (e *CallbackEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", e.Kind.String()), slog.Int64("id", int64(e.ID())), slog.String("key", e.Key()))
}

func callbackError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidCallback}, args...)...)
}

// ParseCallback decodes a callback body and tells its kind by its fields: a
// task summary carries task_id, an IDV task idv_task_id. A body that is
// neither, or both, is an error matching ErrInvalidCallback.
func ParseCallback(body []byte) (*CallbackEvent, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil || probe == nil {
		return nil, callbackError("the body is not a JSON object")
	}
	_, isTask := probe["task_id"]
	_, isIDV := probe["idv_task_id"]
	switch {
	case isTask && isIDV:
		return nil, callbackError("the body has both task_id and idv_task_id")
	case isTask:
		task, err := ParseTaskCallback(body)
		if err != nil {
			return nil, err
		}
		return &CallbackEvent{Kind: CallbackTask, Task: task}, nil
	case isIDV:
		idv, err := ParseIDVCallback(body)
		if err != nil {
			return nil, err
		}
		return &CallbackEvent{Kind: CallbackIDV, IDV: idv}, nil
	}
	return nil, callbackError("the body is neither a DD task (task_id) nor an IDV task (idv_task_id)")
}

// ParseTaskCallback decodes the body of a DD task callback: a task summary,
// the same model Tasks.Summary returns.
func ParseTaskCallback(body []byte) (*TaskSummary, error) {
	var task TaskSummary
	if err := json.Unmarshal(body, &task); err != nil {
		return nil, callbackError("task summary: %v", err)
	}
	if task.TaskID <= 0 {
		return nil, callbackError("task summary without a task_id")
	}
	return &task, nil
}

// ParseIDVCallback decodes the body of an IDV callback: an IDV task, the
// same model IDV.Get returns.
func ParseIDVCallback(body []byte) (*IDVTask, error) {
	var task IDVTask
	if err := json.Unmarshal(body, &task); err != nil {
		return nil, callbackError("IDV task: %v", err)
	}
	if task.IDVTaskID <= 0 {
		return nil, callbackError("IDV task without an idv_task_id")
	}
	return &task, nil
}

// SignatureParam is the query parameter that carries a callback URL's
// signature.
const SignatureParam = "kg_sig"

// MinSecretBytes is the shortest callback signing secret accepted.
const MinSecretBytes = 32

// CallbackSigner signs callback URLs and verifies the requests made to them,
// with HMAC-SHA256 over the URL's query parameters. It is safe for
// concurrent use.
type CallbackSigner struct {
	secrets [][]byte // the current secret first, then the previous ones
}

// NewCallbackSigner returns a signer that signs with secret and verifies
// with secret or any of previous, so secrets can be rotated: sign with the
// new secret while URLs signed with the old one are still out. Every secret
// must be at least 32 bytes (generate them with crypto/rand).
func NewCallbackSigner(secret []byte, previous ...[]byte) (*CallbackSigner, error) {
	s := &CallbackSigner{}
	for i, sec := range append([][]byte{secret}, previous...) {
		if len(sec) < MinSecretBytes {
			return nil, fmt.Errorf("kryptogo: callback secret %d is %d bytes; use at least %d random bytes", i, len(sec), MinSecretBytes)
		}
		s.secrets = append(s.secrets, bytes.Clone(sec))
	}
	return s, nil
}

// String describes the signer without its secrets.
func (s *CallbackSigner) String() string {
	return fmt.Sprintf("kryptogo.CallbackSigner{secrets: %d}", len(s.secrets))
}

// Format prints String for every verb, so no verb can reach a secret.
func (s *CallbackSigner) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// SignURL returns callbackURL with a signature parameter covering its query
// parameters: pass the result as callback_url. Put your own ids in the query
// (https://example.com/kryptogo?customer=42); Verify then proves they are
// the ones you signed.
func (s *CallbackSigner) SignURL(callbackURL string) (string, error) {
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("kryptogo: SignURL: %q is not an absolute http(s) URL", callbackURL)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("kryptogo: SignURL: bad query: %w", err)
	}
	if query.Has(SignatureParam) {
		return "", fmt.Errorf("kryptogo: SignURL: the URL already has a %s parameter", SignatureParam)
	}
	sig := s.sign(s.secrets[0], query)
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += SignatureParam + "=" + sig
	return u.String(), nil
}

// sign returns the signature of a query: an HMAC over its canonical form
// (keys sorted, values in order, standard escaping), so that a proxy that
// re-encodes the query does not break it, while any change to a key or a
// value, and any added parameter, does.
func (s *CallbackSigner) sign(secret []byte, query url.Values) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("kryptogo-callback-v1\n"))
	mac.Write([]byte(query.Encode()))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the signature of a request to a signed callback URL, in
// constant time, against every secret of the signer. A missing, malformed or
// wrong signature is ErrInvalidSignature.
func (s *CallbackSigner) Verify(r *http.Request) error {
	if r == nil || r.URL == nil {
		return ErrInvalidSignature
	}
	return s.VerifyURL(r.URL)
}

// VerifyURL is Verify for a URL.
func (s *CallbackSigner) VerifyURL(u *url.URL) error {
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: bad query", ErrInvalidSignature)
	}
	sigs := query[SignatureParam]
	if len(sigs) != 1 {
		return fmt.Errorf("%w: want one %s parameter, got %d", ErrInvalidSignature, SignatureParam, len(sigs))
	}
	got, err := base64.RawURLEncoding.DecodeString(sigs[0])
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed", ErrInvalidSignature)
	}
	query.Del(SignatureParam)
	for _, secret := range s.secrets {
		want, _ := base64.RawURLEncoding.DecodeString(s.sign(secret, query))
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: mismatch", ErrInvalidSignature)
}

// NewSignedCallbackRequest builds the request KryptoGO would send to a
// signed callback URL, for users' tests: pass it to a handler's ServeHTTP,
// or send it to a running server with an http.Client. signer signs callbackURL, and
// payload becomes the body (a []byte or json.RawMessage as is, a model with
// RawJSON its original JSON, anything else encoded as JSON). A nil signer
// leaves the URL unsigned.
func NewSignedCallbackRequest(signer *CallbackSigner, callbackURL string, payload any) (*http.Request, error) {
	target := callbackURL
	if signer != nil {
		signed, err := signer.SignURL(callbackURL)
		if err != nil {
			return nil, err
		}
		target = signed
	}
	body, err := callbackBody(payload)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kryptogo: NewSignedCallbackRequest: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func callbackBody(payload any) ([]byte, error) {
	switch p := payload.(type) {
	case []byte:
		return p, nil
	case json.RawMessage:
		return p, nil
	case interface{ RawJSON() json.RawMessage }:
		if raw := p.RawJSON(); len(raw) > 0 {
			return raw, nil
		}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: NewSignedCallbackRequest: encode payload: %w", err)
	}
	return b, nil
}

// DefaultMaxCallbackBytes caps a callback body when
// CallbackHandler.MaxBodyBytes is 0.
const DefaultMaxCallbackBytes = 1 << 20

// CallbackHandler is an http.Handler that receives KryptoGO callbacks:
//
//	http.Handle("/kryptogo/callback", &kryptogo.CallbackHandler{
//		Signer:  signer, // refuses URLs you did not sign
//		Confirm: client, // re-fetches the record instead of trusting the body
//		OnTask:  func(ctx context.Context, t *kryptogo.TaskSummary) error { … },
//		OnIDV:   func(ctx context.Context, t *kryptogo.IDVTask) error { … },
//	})
//
// It answers 405 to anything but POST, 401 to a bad signature, 413 to a body
// over MaxBodyBytes, 400 to a body that is not a callback, 503 when Confirm
// cannot fetch the record, 500 when a function fails (so the sender
// retries), and 204 otherwise. A callback whose function is nil is
// acknowledged and logged. With neither Signer nor Confirm it refuses every
// callback (500, logged once) unless AllowUnverified is set.
//
// The functions run with the request's context, which also carries the
// event (CallbackFromContext) with its key and the URL's parameters. Logs
// name the kind, id and outcome of a callback, never its body.
type CallbackHandler struct {
	// Signer verifies the signature of the callback URL.
	Signer *CallbackSigner
	// Confirm, when set, fetches the record named by the body's id from the
	// API (Tasks.Summary or IDV.Get) and passes that on instead of the body.
	Confirm *Client
	// AllowUnverified accepts callbacks with neither Signer nor Confirm set:
	// anyone who can reach the handler can then forge a result.
	AllowUnverified bool
	// OnTask receives DD task callbacks.
	OnTask func(ctx context.Context, task *TaskSummary) error
	// OnIDV receives IDV callbacks.
	OnIDV func(ctx context.Context, task *IDVTask) error
	// MaxBodyBytes caps the body; 0 means 1 MiB.
	MaxBodyBytes int64
	// Logger receives one record per callback; nil means slog.Default().
	Logger *slog.Logger

	misconfigured sync.Once
}

type callbackCtxKey struct{}

// CallbackFromContext returns the event a CallbackHandler is delivering,
// from the context it passed to OnTask or OnIDV.
func CallbackFromContext(ctx context.Context) (*CallbackEvent, bool) {
	e, ok := ctx.Value(callbackCtxKey{}).(*CallbackEvent)
	return e, ok
}

// ServeHTTP receives one callback.
func (h *CallbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, event, reason := h.receive(w, r)
	h.log(r.Context(), status, event, reason)
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// receive runs the checks in order and returns the status to answer, the
// event when one was decoded, and why a callback was refused.
func (h *CallbackHandler) receive(w http.ResponseWriter, r *http.Request) (int, *CallbackEvent, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, nil, "method " + r.Method
	}
	if h.Signer == nil && h.Confirm == nil && !h.AllowUnverified {
		h.misconfigured.Do(func() {
			h.logger().Error("kryptogo callback handler refuses every callback: set Signer and/or Confirm, or AllowUnverified")
		})
		return http.StatusInternalServerError, nil, "misconfigured: neither Signer nor Confirm"
	}
	params := r.URL.Query()
	if h.Signer != nil {
		if err := h.Signer.Verify(r); err != nil {
			return http.StatusUnauthorized, nil, err.Error()
		}
	}
	params.Del(SignatureParam)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody()))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, nil, fmt.Sprintf("body over %d bytes", h.maxBody())
		}
		return http.StatusBadRequest, nil, "reading body: " + err.Error()
	}
	event, err := ParseCallback(body)
	if err != nil {
		return http.StatusBadRequest, nil, err.Error()
	}
	event.Params, event.Verified = params, h.Signer != nil
	if h.Confirm != nil {
		if err := h.confirm(r.Context(), event); err != nil {
			return http.StatusServiceUnavailable, event, "confirm: " + err.Error()
		}
	}
	return h.dispatch(r.Context(), event)
}

// confirm replaces the body's record with the API's.
func (h *CallbackHandler) confirm(ctx context.Context, e *CallbackEvent) error {
	switch e.Kind {
	case CallbackTask:
		task, err := h.Confirm.Tasks.Summary(ctx, e.Task.TaskID)
		if err != nil {
			return err
		}
		e.Task = task
	case CallbackIDV:
		idv, err := h.Confirm.IDV.Get(ctx, e.IDV.IDVTaskID)
		if err != nil {
			return err
		}
		e.IDV = idv
	}
	e.Confirmed = true
	return nil
}

func (h *CallbackHandler) dispatch(ctx context.Context, e *CallbackEvent) (int, *CallbackEvent, string) {
	ctx = context.WithValue(ctx, callbackCtxKey{}, e)
	var err error
	switch {
	case e.Kind == CallbackTask && h.OnTask != nil:
		err = h.OnTask(ctx, e.Task)
	case e.Kind == CallbackIDV && h.OnIDV != nil:
		err = h.OnIDV(ctx, e.IDV)
	default:
		return http.StatusNoContent, e, "no function for " + e.Kind.String() + " callbacks; acknowledged"
	}
	if err != nil {
		return http.StatusInternalServerError, e, "handler failed: " + err.Error()
	}
	return http.StatusNoContent, e, ""
}

func (h *CallbackHandler) maxBody() int64 {
	if h.MaxBodyBytes > 0 {
		return h.MaxBodyBytes
	}
	return DefaultMaxCallbackBytes
}

func (h *CallbackHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// log records one callback: its kind, id and key when decoded, the status
// and the reason. Never the body: it holds names and ID numbers.
func (h *CallbackHandler) log(ctx context.Context, status int, e *CallbackEvent, reason string) {
	attrs := []slog.Attr{slog.Int("status", status)}
	if e != nil {
		attrs = append(attrs, slog.String("kind", e.Kind.String()), slog.Int64("id", int64(e.ID())),
			slog.String("key", e.Key()), slog.Bool("verified", e.Verified), slog.Bool("confirmed", e.Confirmed))
	}
	level := slog.LevelInfo
	if status >= 400 {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("reason", strings.TrimPrefix(reason, "kryptogo: ")))
	} else if reason != "" {
		attrs = append(attrs, slog.String("note", reason))
	}
	h.logger().LogAttrs(ctx, level, "kryptogo callback", attrs...)
}
