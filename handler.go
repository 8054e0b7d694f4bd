package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/kyabc/kryptogo-go/internal/jsonkeys"
)

// DefaultMaxCallbackBytes caps a callback body when
// CallbackHandler.MaxBodyBytes is 0.
const DefaultMaxCallbackBytes = 1 << 20

// CallbackHandler is an http.Handler that receives KryptoGO callbacks:
//
//	http.Handle("/kryptogo/callback", &kryptogo.CallbackHandler{
//		Signer:  signer, // refuses URLs you did not sign, binds each to a customer
//		Confirm: client, // re-fetches the record instead of trusting the body
//		OnTask:  func(ctx context.Context, t *kryptogo.TaskSummary) error { … },
//		OnIDV:   func(ctx context.Context, t *kryptogo.IDVTask) error { … },
//	})
//
// It delivers a record only if it belongs to the customer the URL was signed
// for (SignURL): with Signer, the record's customer_reference must be the
// URL's verified kg_ref, and a record without one is refused; with Confirm
// as well, that check runs on the record re-fetched from the API, whose id
// and kind must also be the body's. So with both, someone who learned a
// signed URL can at most make the handler re-deliver that customer's own
// current records. With Signer alone, the customer binding holds but the
// record's content is the body's claim: whoever holds the URL can report
// any state for any id under its customer's name. Use both.
//
// It answers 405 to anything but POST, 401 to a bad signature, 413 to a body
// over MaxBodyBytes, 400 to a body that is not a callback (ParseCallback:
// one that repeats a key included), 403 to a record of another customer
// (or, with Confirm, to an API answer about another record, or one that
// repeats a key), 422 when the API does not know the record, 503 when Confirm meets
// a transient failure (network, 429, 5xx), 500 when a function fails or the
// API refuses the client's key (so the sender retries), and 204 otherwise.
// No refusal calls OnTask or OnIDV; each is logged with the kind, id and
// reason. A callback whose function is nil is acknowledged and logged. With
// neither Signer nor Confirm it refuses every callback (500, logged once)
// unless AllowUnverified is set.
//
// The functions run with the request's context, which also carries the
// event (CallbackFromContext) with its key, customer reference and, when
// verified, the URL's parameters. Logs name the kind, id, URL customer and
// outcome of a callback, never its body.
type CallbackHandler struct {
	// Signer verifies the signature of the callback URL and binds the
	// callback to the customer the URL was signed for.
	Signer *CallbackSigner
	// PublicURL is the callback URL as the sender sees it, without the
	// query (https://hooks.example.com/kryptogo/callback). Set it when a
	// proxy in front of the handler rewrites the Host header or the path:
	// signatures are then checked against PublicURL's host and path instead
	// of the request's. Empty means the request's Host header and path.
	PublicURL string
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
	params, status, reason := h.verify(r)
	if status != 0 {
		return status, nil, reason
	}
	event, status, reason := h.readEvent(w, r)
	if status != 0 {
		return status, nil, reason
	}
	if h.Signer != nil {
		event.Params, event.Verified, event.CustomerReference = params, true, params.Get(ReferenceParam)
	}
	if h.Confirm != nil {
		if status, reason := h.confirm(r.Context(), event); status != 0 {
			return status, event, reason
		}
	}
	if reason := bindingMismatch(event); reason != "" {
		return http.StatusForbidden, event, reason
	}
	return h.dispatch(r.Context(), event)
}

// verify checks the URL's signature when there is a Signer, and returns the
// verified parameters; a status of 0 means go on.
func (h *CallbackHandler) verify(r *http.Request) (url.Values, int, string) {
	if h.Signer == nil {
		return nil, 0, ""
	}
	host, path := requestHost(r), r.URL.EscapedPath()
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || u.Host == "" {
			return nil, http.StatusInternalServerError, "misconfigured: PublicURL is not an absolute URL"
		}
		host, path = u.Host, u.EscapedPath()
	}
	params, err := h.Signer.verify(host, path, r.URL.RawQuery)
	if err != nil {
		return nil, http.StatusUnauthorized, err.Error()
	}
	return params, 0, ""
}

// requestHost is the host a request was sent to: its Host header, or its
// URL's host for a request built in a test.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// readEvent reads and decodes the body; a status of 0 means go on.
func (h *CallbackHandler) readEvent(w http.ResponseWriter, r *http.Request) (*CallbackEvent, int, string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody()))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.maxBody())
		}
		return nil, http.StatusBadRequest, "reading body: " + err.Error()
	}
	event, err := ParseCallback(body)
	if err != nil {
		return nil, http.StatusBadRequest, err.Error()
	}
	return event, 0, ""
}

// confirm replaces the body's record with the API's, which must be the
// same record: same kind, same id. A status of 0 means go on.
func (h *CallbackHandler) confirm(ctx context.Context, e *CallbackEvent) (int, string) {
	fetched := &CallbackEvent{Kind: e.Kind}
	var err error
	switch e.Kind {
	case CallbackTask:
		fetched.Task, err = h.Confirm.Tasks.Summary(ctx, e.Task.TaskID)
	case CallbackIDV:
		fetched.IDV, err = h.Confirm.IDV.Get(ctx, e.IDV.IDVTaskID)
	}
	if err != nil {
		return confirmFailure(err)
	}
	// A record of the other kind decodes with a zero id of this kind.
	if fetched.ID() != e.ID() {
		return http.StatusForbidden, fmt.Sprintf("confirm: the API answered another record (%s id %d) for %s %d",
			e.Kind, fetched.ID(), e.Kind, e.ID())
	}
	// The record handed on must say one thing to every reader (see ParseCallback).
	if jsonkeys.CheckUnique(fetched.RawJSON()) != nil {
		return http.StatusForbidden, fmt.Sprintf("confirm: the API's record of %s %d repeats a key", e.Kind, e.ID())
	}
	e.Task, e.IDV, e.Confirmed = fetched.Task, fetched.IDV, true
	return 0, ""
}

// confirmFailure maps a failed fetch to the answer that makes the sender do
// the right thing: give up on a record the API does not know, retry later
// on a transient failure, retry after a fix when the API refuses the key.
func confirmFailure(err error) (int, string) {
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusUnprocessableEntity, "confirm: the API does not know the record"
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrServerError), !errors.As(err, &apiErr):
		return http.StatusServiceUnavailable, "confirm: " + err.Error()
	}
	return http.StatusInternalServerError, "confirm: " + err.Error()
}

// bindingMismatch says why a verified callback's record does not belong to
// the customer its URL was signed for; "" when it does, or when no
// signature bound the URL to a customer.
func bindingMismatch(e *CallbackEvent) string {
	if !e.Verified {
		return ""
	}
	var got string
	switch {
	case e.Task != nil:
		got = e.Task.CustomerReference
	case e.IDV != nil:
		got = e.IDV.CustomerReference
	}
	switch {
	case got == "":
		return "the record has no customer_reference; the URL was signed for a customer"
	case got != e.CustomerReference:
		return "the record's customer_reference is not the URL's " + ReferenceParam
	}
	return ""
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
		if e.CustomerReference != "" {
			attrs = append(attrs, slog.String("customer", e.CustomerReference))
		}
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
