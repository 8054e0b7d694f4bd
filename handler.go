package kryptogo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kyabc/kryptogo-go/internal/jsonkeys"
	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// DefaultMaxCallbackBytes caps a callback body by default.
const DefaultMaxCallbackBytes = 1 << 20

// CallbackHandler is an http.Handler that receives KryptoGO callbacks. Set
// Signer (only records of the URL's customer are delivered) and Confirm (the
// record re-fetched from the API is delivered, not the body); with neither it
// refuses all unless AllowUnverified. CallbackOutcome lists its answers; the
// README's "Receiving callbacks" details the guarantees.
type CallbackHandler struct {
	Signer          *CallbackSigner                                    // verifies the URL and binds the callback to its customer
	PublicURL       string                                             // the URL as the sender sees it, when a proxy rewrites it
	Confirm         *Client                                            // re-fetches the record (Tasks.Summary, IDV.Get)
	ConfirmRate     float64                                            // confirmations a second; 0: DefaultConfirmRate
	ConfirmBurst    int                                                // confirmations at once; 0: DefaultConfirmBurst
	AllowUnverified bool                                               // accept with neither Signer nor Confirm: forgeable
	OnTask          func(ctx context.Context, task *TaskSummary) error // DD task callbacks; ctx carries the event
	OnIDV           func(ctx context.Context, task *IDVTask) error     // IDV callbacks
	MaxBodyBytes    int64                                              // 0: DefaultMaxCallbackBytes
	Logger          *slog.Logger                                       // nil: slog.Default()
	Store           CallbackStore                                      // each CallbackEvent.Key() once across processes; fails closed
	Observer        *Observer                                          // sees each callback; set it before serving

	lease         time.Duration // of the Store's claims; 0: callbackLease (a test hook)
	misconfigured sync.Once
	confirmInit   sync.Once
	confirms      *confirmer // Confirm's, for ConfirmRate and ConfirmBurst, taken at the first confirmation
}

type callbackCtxKey struct{}

// CallbackFromContext returns the event OnTask or OnIDV is handling.
func CallbackFromContext(ctx context.Context) (*CallbackEvent, bool) {
	e, ok := ctx.Value(callbackCtxKey{}).(*CallbackEvent)
	return e, ok
}

// ServeHTTP receives one callback.
func (h *CallbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, obs := h.observeCallback(r) // observe.go
	v := h.receive(w, r)
	defer obs.done(v)
	h.log(r.Context(), v)
	switch {
	case v.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case v.status == http.StatusServiceUnavailable || v.retryAfter > 0:
		// Every 503 says when to come back (at least a second).
		w.Header().Set("Retry-After", retryAfterHeader(v.retryAfter))
	}
	if v.status == http.StatusNoContent {
		w.WriteHeader(v.status)
		return
	}
	http.Error(w, http.StatusText(v.status), v.status)
}

// verdict is the handler's answer to one callback.
type verdict struct {
	status int
	event  *CallbackEvent // when one was decoded
	reason string         // why it was refused, or a note
	// retryAfter tells the sender of a 503 when to come back.
	retryAfter time.Duration
	// refused marks a callback refused without a request, over the rate
	// cap or during a pause: logged at debug, and summarised at warn.
	refused bool
	// outcome is what an Observer is told, when status alone does not say
	// it (verdict.callbackOutcome).
	outcome CallbackOutcome
}

// receive runs the checks in order and returns the answer.
func (h *CallbackHandler) receive(w http.ResponseWriter, r *http.Request) verdict {
	if r.Method != http.MethodPost {
		return verdict{status: http.StatusMethodNotAllowed, reason: "method " + r.Method}
	}
	if h.Signer == nil && h.Confirm == nil && !h.AllowUnverified {
		h.misconfigured.Do(func() {
			h.logger().Error("kryptogo callback handler refuses every callback: set Signer and/or Confirm, or AllowUnverified")
		})
		return verdict{status: http.StatusInternalServerError, reason: "misconfigured: neither Signer nor Confirm"}
	}
	params, status, reason := h.verify(r)
	if status != 0 {
		return verdict{status: status, reason: reason}
	}
	event, status, reason := h.readEvent(w, r)
	if status != 0 {
		return verdict{status: status, reason: reason}
	}
	if h.Signer != nil {
		event.Params, event.Verified, event.CustomerReference = params, true, params.Get(ReferenceParam)
	}
	if h.Confirm != nil {
		if v := h.confirm(r.Context(), event); v.status != 0 {
			return v
		}
	}
	if reason := bindingMismatch(event); reason != "" {
		return verdict{status: http.StatusForbidden, event: event, reason: reason}
	}
	if h.Store != nil {
		return h.deliverOnce(r.Context(), event) // handler_inbox.go
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
	body, err := readCallbackBody(http.MaxBytesReader(w, r.Body, h.maxBody()), r.ContentLength, h.maxBody())
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.maxBody())
		}
		return nil, http.StatusBadRequest, "reading body: " + err.Error()
	}
	// body is this callback's alone; a confirmation replaces its record.
	event, err := parseCallback(callbackInput{data: body, owned: true, idOnly: h.Confirm != nil})
	if err != nil {
		return nil, http.StatusBadRequest, err.Error()
	}
	return event, 0, ""
}

// readCallbackBody reads a callback body in one allocation when its
// length is known (io.ReadAll grows from 512 bytes: four allocations for a
// usual callback), and from a buffer of a usual callback's size when not.
// The body becomes the record's RawJSON, so it is not pooled.
func readCallbackBody(r io.Reader, length, maxBody int64) ([]byte, error) {
	size := int64(callbackBufferBytes)
	if length > 0 {
		// +1: the read that sees EOF needs no growth. A declared length
		// is not trusted past maxDeclaredBuffer: a sender could declare
		// a megabyte and send nothing.
		size = min(length+1, maxDeclaredBuffer)
	}
	b := make([]byte, 0, min(size, maxBody+1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow as append does
		}
	}
}

// callbackBufferBytes is the first buffer of a body of unknown length: a
// task or IDV callback is 1-3 KiB.
const callbackBufferBytes = 4 << 10

// maxDeclaredBuffer bounds the first buffer a declared length gets.
const maxDeclaredBuffer = 64 << 10

// confirm replaces the body's record with the API's, which must be the
// same record: same kind, same id. A status of 0 means go on.
func (h *CallbackHandler) confirm(ctx context.Context, e *CallbackEvent) verdict {
	fetched, err := h.confirmer().fetch(ctx, h.logger(), e.Kind, e.ID())
	if err != nil {
		v := confirmFailure(err)
		v.event = e
		return v
	}
	// A record of the other kind decodes with a zero id of this kind.
	if fetched.ID() != e.ID() {
		return verdict{status: http.StatusForbidden, event: e, reason: fmt.Sprintf("confirm: the API answered another record (%s id %d) for %s %d",
			e.Kind, fetched.ID(), e.Kind, e.ID())}
	}
	// The record handed on must say one thing to every reader (see
	// ParseCallback). The API's record is most often the body itself (the
	// callback carries the record, unchanged since): that one was scanned.
	if raw := fetched.RawJSON(); !sameJSON(raw, e.unread) && jsonkeys.CheckUnique(raw) != nil {
		return verdict{status: http.StatusForbidden, event: e, reason: fmt.Sprintf("confirm: the API's record of %s %d repeats a key", e.Kind, e.ID())}
	}
	e.Task, e.IDV, e.Confirmed, e.unread = fetched.Task, fetched.IDV, true, nil
	return verdict{}
}

// sameJSON reports whether raw is body (a callback body, which the
// handler scanned) but for the white space around them.
func sameJSON(raw, body []byte) bool {
	raw = jsonscan.TrimSpace(raw)
	return len(raw) > 0 && bytes.Equal(raw, jsonscan.TrimSpace(body))
}

// confirmer returns the handler's confirmations, built at the first one.
func (h *CallbackHandler) confirmer() *confirmer {
	h.confirmInit.Do(func() { h.confirms = h.Confirm.confirmer(h.ConfirmRate, h.ConfirmBurst) })
	return h.confirms
}

// confirmFailure maps a failed fetch to the answer that makes the sender do
// the right thing: give up on a record the API does not know, come back
// later (Retry-After) when the confirmations are over their cap or paused
// or meet a transient failure, retry after a fix when the API refuses the
// key.
func confirmFailure(err error) verdict {
	var apiErr *APIError
	var refusal *confirmRefusal
	switch {
	case errors.As(err, &refusal):
		return verdict{status: http.StatusServiceUnavailable, reason: refusal.Error(), retryAfter: refusal.retryAfter, refused: true}
	case errors.Is(err, ErrNotFound):
		return verdict{status: http.StatusUnprocessableEntity, reason: "confirm: the API does not know the record"}
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrServerError), !errors.As(err, &apiErr):
		return verdict{status: http.StatusServiceUnavailable, reason: "confirm: " + err.Error(), retryAfter: retryAfterOf(err)}
	}
	return verdict{status: http.StatusInternalServerError, reason: "confirm: " + err.Error()}
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

func (h *CallbackHandler) dispatch(ctx context.Context, e *CallbackEvent) verdict {
	ctx = context.WithValue(ctx, callbackCtxKey{}, e)
	var err error
	switch {
	case e.Kind == CallbackTask && h.OnTask != nil:
		err = h.OnTask(ctx, e.Task)
	case e.Kind == CallbackIDV && h.OnIDV != nil:
		err = h.OnIDV(ctx, e.IDV)
	default:
		return verdict{status: http.StatusNoContent, event: e, reason: "no function for " + e.Kind.String() + " callbacks; acknowledged",
			outcome: CallbackAcknowledged}
	}
	if err != nil {
		return verdict{status: http.StatusInternalServerError, event: e, reason: "handler failed: " + err.Error(), outcome: CallbackFailed}
	}
	return verdict{status: http.StatusNoContent, event: e}
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
// and the reason. Never the body: it holds names and ID numbers. A callback
// refused without a request is logged at debug: a flood of them is
// summarised at warn once a second instead (confirmer.fetch).
func (h *CallbackHandler) log(ctx context.Context, v verdict) {
	status, e, reason := v.status, v.event, v.reason
	level := slog.LevelInfo
	if status >= 400 {
		level = slog.LevelWarn
		if v.refused {
			level = slog.LevelDebug
		}
	}
	logger := h.logger()
	if !logger.Enabled(ctx, level) {
		return // no record (and no event key) built for a logger that drops it
	}
	attrs := []slog.Attr{slog.Int("status", status)}
	if e != nil {
		attrs = append(attrs, slog.String("kind", e.Kind.String()), slog.Int64("id", int64(e.ID())),
			slog.String("key", e.logKey()), slog.Bool("verified", e.Verified), slog.Bool("confirmed", e.Confirmed))
		if e.CustomerReference != "" {
			attrs = append(attrs, slog.String("customer", e.CustomerReference))
		}
	}
	if status >= 400 {
		attrs = append(attrs, slog.String("reason", strings.TrimPrefix(reason, "kryptogo: ")))
	} else if reason != "" {
		attrs = append(attrs, slog.String("note", reason))
	}
	logger.LogAttrs(ctx, level, "kryptogo callback", attrs...)
}
