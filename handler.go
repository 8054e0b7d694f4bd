package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

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
