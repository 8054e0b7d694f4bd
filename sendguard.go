package kryptogo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The send guard keeps a layer below the SDK from sending a request more
// often than the SDK means to: a POST creates a paid task and has no
// idempotency key, so exactly one send of each attempt may write it.
//
// It watches each attempt through httptrace, the only view the SDK has of
// what the transport does. A send announces itself with GotConn before it
// writes a byte. The first send of a POST is the one that may write; any
// other is a copy (a hedging transport's, beside the first) or a replay (a
// retrying transport's, or net/http's HTTP/2 after a reset stream, after
// the first), and is stopped before its first byte without harming the
// first:
//
//   - On an HTTP/1 connection, which carries that send alone and which
//     net/http writes to without looking at the context, by closing it.
//   - On any other (HTTP/2 shares one connection between many calls), a
//     replay by ending the attempt's context: HTTP/2 checks the context
//     right before it writes a request's headers, and so writes nothing.
//   - A copy there by holding it in its GotConn hook until the SDK, having
//     read the first send's answer, ends the attempt's context and closes
//     the request's Cancel channel (HTTP/2 checks both), which a copy on a
//     context detached from the attempt's still carries.
//
// Trace hooks do not say which send they belong to. A send on the
// goroutine of the first comes after it (a goroutine makes one send at a
// time); net/http's own transport makes all its sends on one goroutine.
// Beyond that, the guard needs only the order of GotConn events and
// whether the first send wrote, ended or handed an answer to the SDK.

// errReplayed ends an attempt that a layer below the SDK re-sends by
// itself: net/http's HTTP/2 transport replays a request whose stream the
// server reset with PROTOCOL_ERROR, with no limit, and a user's retrying or
// hedging RoundTripper sends a POST it has buffered again.
var errReplayed = errors.New("a layer below the SDK re-sent the request by itself; stopped it before it was written again")

// maxInformational bounds the informational (1xx) answers an attempt takes
// before its real answer: a 100 Continue and a 103 Early Hints or two are
// all a server has reason to send.
const maxInformational = 8

var errTooManyInformational = fmt.Errorf("the server sent more than %d informational (1xx) answers before its answer", maxInformational)

// maxSendsPerAttempt bounds the sends of an idempotent request below one
// attempt and one redirect hop: the request, and one replay on a keep-alive
// connection the server had closed. A POST gets no second send that writes
// (net/http never re-sends a POST without GetBody after writing it, so a
// second send is someone else's copy of a paid request).
const maxSendsPerAttempt = 2

// How long a held send waits, beyond the end of the attempt's context.
const (
	// holdTick is how often a held send looks at the attempt again.
	holdTick = 10 * time.Millisecond
	// holdGrace is how long the first send may be over (its answer began
	// to arrive, its write failed, its stream or its connection ended)
	// before its transport hands an answer to the SDK: a transport that
	// waits for every send, or a retrying one that dropped the answer,
	// would otherwise wait for the held one until the attempt's end.
	holdGrace = 250 * time.Millisecond
	// maxHold bounds a hold when the attempt has no deadline (WithTimeout(0)).
	maxHold = DefaultTimeout
)

// sendGuard watches one attempt through httptrace: which send may write,
// whether any byte of the request was written, whether the transport
// reported the request at all, and when its connection went back to the
// pool. It holds its trace, so that one allocation serves both.
type sendGuard struct {
	trace  httptrace.ClientTrace
	ctx    context.Context // the attempt's: a held send waits for its end
	cancel context.CancelFunc
	actx   attemptCtx // the context the request carries (attemptctx.go)
	// stopped is the request's Cancel channel, closed when the attempt's
	// context ends, for a POST through a RoundTripper other than
	// net/http's own (nil otherwise). A transport may give a copy a
	// context that keeps the SDK's trace but not its cancellation
	// (context.WithoutCancel); a held copy let go would then write. A
	// copy made with req.Clone or req.WithContext keeps the channel, and
	// HTTP/2 looks at it, as at the context, before it writes.
	stopped     chan struct{}
	stoppedOnce sync.Once
	// op is the call's operation (OperationFromContext).
	op *Operation
	// post is set for a method that is not idempotent: one send may write.
	post bool
	// sequential is set for net/http's own transport, whose sends of one
	// request never overlap: a second send means the first is over.
	sequential bool

	mu              sync.Mutex
	sends           int      // sends that got a connection in this redirect hop
	writerConn      net.Conn // the connection of the send that may write
	writerGoroutine uint64   // the goroutine that made it (0: unknown)
	// replays counts, per goroutine, the sends of an idempotent request
	// after its first, through a RoundTripper other than net/http's own.
	replays []goroutineSends

	observed atomic.Bool // a trace event fired: the transport kept the request's context
	wrote    atomic.Bool // a byte of the request may have been written
	hopWrote atomic.Bool // ... in the current redirect hop
	over     atomic.Bool // the first send's answer began to arrive, or its write failed
	answered atomic.Bool // the transport returned to the SDK
	replayed atomic.Bool // a send was stopped
	pooled   atomic.Bool // the connection went back to the idle pool
	// conns counts the connections its sends got (GotConn): a dial gate
	// tells by it whether the request a dial was started for still waits.
	conns atomic.Int32

	informational atomic.Int32 // informational (1xx) answers received
}

type guardKey struct{}

// goroutineSends is how many sends one goroutine made.
type goroutineSends struct {
	goroutine uint64
	sends     int
}

// newSendGuard returns the guard of one attempt. Its trace has only the
// hooks the method needs: each one costs an allocation per attempt.
func newSendGuard(method string, sequential bool, cancel context.CancelFunc) *sendGuard {
	g := &sendGuard{post: !idempotent(method), sequential: sequential, cancel: cancel}
	g.trace = httptrace.ClientTrace{
		GotConn:     g.gotConn,
		PutIdleConn: func(err error) { g.pooled.Store(err == nil) },
	}
	if !g.post {
		return g
	}
	g.trace.GetConn = func(string) { g.observed.Store(true) }
	// Each header field is reported before the request leaves the
	// transport's buffer (HTTP/1) or before its HEADERS frame is written
	// (HTTP/2): the earliest moment bytes may reach the network.
	g.trace.WroteHeaderField = func(string, []string) { g.markWritten() }
	if !sequential { // what a held send needs to know
		g.stopped = make(chan struct{})
		g.trace.GotFirstResponseByte = func() { g.over.Store(true) }
		// The first byte may begin an informational answer (103 Early
		// Hints): the send goes on to its real answer, which reports no
		// first byte again. Its end is then known when the transport
		// answers the SDK. net/http leaves bounding informational answers
		// to a trace that reads them.
		g.trace.Got1xxResponse = func(int, textproto.MIMEHeader) error {
			g.over.Store(false)
			if g.informational.Add(1) > maxInformational {
				return errTooManyInformational
			}
			return nil
		}
		g.trace.WroteRequest = func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				g.over.Store(true)
			}
		}
	}
	return g
}

// end ends the attempt: its context, and the request's Cancel channel.
func (g *sendGuard) end() {
	g.cancel()
	g.closeStopped()
}

// closeStopped closes the request's Cancel channel, if it has one: every
// send let go from here on stops before its first byte, whatever its
// context.
func (g *sendGuard) closeStopped() {
	if g.stopped != nil {
		g.stoppedOnce.Do(func() { close(g.stopped) })
	}
}

func (g *sendGuard) markWritten() {
	g.wrote.Store(true)
	g.hopWrote.Store(true)
}

// gotConn runs when a send has a connection, before it writes anything.
func (g *sendGuard) gotConn(info httptrace.GotConnInfo) {
	g.conns.Add(1)
	g.observed.Store(true)
	if !g.post {
		g.countIdempotentSend()
		return
	}
	g.mu.Lock()
	g.sends++
	first, writerGoroutine := g.sends == 1, g.writerGoroutine
	g.mu.Unlock()
	if first {
		if g.mayWrite() {
			g.claim(info)
		} else {
			g.stopCopy(info, false)
		}
		return
	}
	// A send on the goroutine of the send that may write comes after that
	// one ended: a goroutine makes one send at a time. net/http's own
	// transport makes every send of a request on the caller's goroutine.
	retry := g.sequential || (writerGoroutine != 0 && goroutineID() == writerGoroutine)
	// A retry after a send that wrote nothing (an HTTP/2 connection that
	// became unusable first) is now the send that may write, if the
	// transport is one that reports every header it writes (net/http's).
	if retry && !g.hopWrote.Load() && (g.sequential || fromGoTransport(gotConnCaller())) && g.mayWrite() {
		g.mu.Lock()
		g.writerConn = info.Conn
		g.mu.Unlock()
		return
	}
	g.stopCopy(info, retry)
}

// mayWrite lets the calling send write, unless its transport already
// answered the SDK. net/http's own transport returns once its send can
// write no more; another may leave a send running (a hedging transport
// that gives up at the deadline leaves its copies), which could write
// after the SDK read whether anything was written. So such a send counts
// as written from here, and one that comes after the answer is stopped.
// (attempt sets answered before it reads wrote: one of the two sees the
// other.)
func (g *sendGuard) mayWrite() bool {
	if g.sequential {
		return true
	}
	g.wrote.Store(true)
	return !g.answered.Load()
}

// claim records the send that may write: its connection and, when a copy
// of it could not simply be closed, its goroutine. (goroutineID walks the
// whole stack, some tens of microseconds: net/http's own transport needs
// no goroutine, nor does a copy on an HTTP/1 connection, which is closed.)
func (g *sendGuard) claim(info httptrace.GotConnInfo) {
	var goroutine uint64
	if !g.sequential && !exclusiveConn(info.Conn) {
		goroutine = goroutineID()
	}
	g.mu.Lock()
	g.writerConn, g.writerGoroutine = info.Conn, goroutine
	g.mu.Unlock()
}

// countIdempotentSend stops the attempt of an idempotent request at its
// (maxSendsPerAttempt+1)th send in a redirect hop. The replays it bounds
// are net/http's, made one after the other on the goroutine of the
// request; through another RoundTripper, sends on other goroutines may be
// copies (a hedging transport sends up to 3 or more at once), so each
// goroutine is bounded alone.
func (g *sendGuard) countIdempotentSend() {
	g.mu.Lock()
	g.sends++
	n := g.sends
	g.mu.Unlock()
	if g.tooManySends(n) {
		g.replayed.Store(true)
		g.cancel()
	}
}

// tooManySends reports whether the n-th send of an idempotent request in
// a redirect hop, made by the calling goroutine, is one too many.
func (g *sendGuard) tooManySends(n int) bool {
	if g.sequential {
		return n > maxSendsPerAttempt
	}
	return n > 1 && g.replaysOn(goroutineID()) > maxSendsPerAttempt
}

// replaysOn counts a send after the first on goroutine and returns how
// many such sends it made. (The first send's goroutine is not read, so
// that a request sent once costs no stack walk: its goroutine makes up to
// one send more than maxSendsPerAttempt, and a replay loop is still bounded.)
func (g *sendGuard) replaysOn(goroutine uint64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.replays {
		if g.replays[i].goroutine == goroutine {
			g.replays[i].sends++
			return g.replays[i].sends
		}
	}
	g.replays = append(g.replays, goroutineSends{goroutine: goroutine, sends: 1})
	return 1
}

// stopCopy keeps a send that must not write from writing, without harming
// the send that may (see the comment at the top of this file). retry says
// that the send that may write is over.
func (g *sendGuard) stopCopy(info httptrace.GotConnInfo, retry bool) {
	g.replayed.Store(true)
	switch {
	case exclusiveConn(info.Conn):
		_ = info.Conn.Close() // the send's first write fails; no other request uses it
	case retry:
		g.stop() // nothing that may still write is in flight
	default:
		if info.WasIdle && g.hopWrote.Load() && sameConn(info.Conn, g.firstConn()) {
			// The first send's connection carries no stream, so its stream,
			// open since before it wrote, has ended.
			g.over.Store(true)
		}
		g.hold()
	}
}

// firstConn returns the connection of the send that may write.
func (g *sendGuard) firstConn() net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writerConn
}

// hold keeps the calling send from going on until the attempt's context
// ends, which HTTP/2 sees before it writes: the SDK ends it once it read the
// first send's answer. So that no transport can hold the call up to the
// attempt's end waiting for the held send, the context ends sooner when the
// first send is over and the SDK got no answer within
// holdGrace, or after maxHold when the attempt has no deadline. The call
// then fails, as maybe sent; no send is written twice.
//
// Over means what the SDK can see: the first send's answer began to
// arrive (an informational one, such as 103 Early Hints, does not count),
// its write failed, its stream ended (gotConn) or its connection was
// closed. A first send that failed otherwise (a stream reset while other
// calls keep its connection open) holds the call to the attempt's end
// (WithTimeout).
func (g *sendGuard) hold() {
	var limit, overAt time.Time
	if _, ok := g.ctx.Deadline(); !ok {
		limit = time.Now().Add(maxHold)
	}
	tick := time.NewTicker(holdTick)
	defer tick.Stop()
	for {
		select {
		case <-g.ctx.Done():
			g.closeStopped() // before the send goes on (see sendGuard.stopped)
			return
		case now := <-tick.C:
			if g.answered.Load() {
				continue // the SDK has an answer and ends the context when done with it
			}
			switch {
			case !g.over.Load() && !connClosed(g.firstConn()):
				overAt = time.Time{} // not over, or not any more (an informational answer)
			case overAt.IsZero():
				overAt = now
			}
			if (!overAt.IsZero() && now.Sub(overAt) >= holdGrace) || (!limit.IsZero() && now.After(limit)) {
				g.stop()
				return
			}
		}
	}
}

// stop ends the attempt's context: every send not yet written stops before
// its first byte. Whether the send that may write did is then unknown, so a
// POST counts as maybe sent.
func (g *sendGuard) stop() {
	if g.post {
		g.wrote.Store(true)
	}
	g.end()
}

// redirected starts the count of a new redirect hop: net/http follows a
// same-origin redirect with a new request, which is no replay.
func (g *sendGuard) redirected() {
	g.mu.Lock()
	g.sends, g.writerConn, g.writerGoroutine, g.replays = 0, nil, 0, g.replays[:0]
	g.mu.Unlock()
	g.hopWrote.Store(false)
}

// blind reports an attempt the transport did not report through the
// request's context (it rebuilt the request without it): the SDK cannot see
// how often it was sent. Only an answer proves that an idempotent request
// went out; a POST is blind on any outcome.
func (g *sendGuard) blind(answered bool) bool {
	return !g.observed.Load() && (g.post || answered)
}

// maxPoolYields bounds how long awaitPooled waits, in scheduler yields.
const maxPoolYields = 8

// awaitPooled gives net/http's read loop a moment to put the HTTP/1
// connection of a fully read answer back in the idle pool before the call
// returns. The loop does that on its own goroutine just after the body's
// end was read; a caller that sends its next request first finds no idle
// connection and dials one more, so N busy callers would open more than N
// connections. The wait is a few yields, none when the connection was
// already pooled, and ends early for answers whose connection closes.
func (g *sendGuard) awaitPooled(resp *http.Response) {
	if resp.ProtoMajor != 1 || resp.Close {
		return
	}
	for range maxPoolYields {
		if g.pooled.Load() {
			return
		}
		runtime.Gosched()
	}
}

// exclusiveConn reports whether conn provably carries one request alone:
// one that net/http's HTTP/1 transport reported (its HTTP/2 transport
// reports its connections, shared by many requests, from its own code).
// Any other is left open, plain-TCP HTTP/2 (h2c) included: closing it could
// end other calls' streams.
func exclusiveConn(conn net.Conn) bool {
	if conn == nil {
		return false
	}
	if tc, ok := conn.(interface{ ConnectionState() tls.ConnectionState }); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
		return false
	}
	return strings.HasPrefix(gotConnCaller(), "net/http.(*Transport).getConn")
}

// fromGoTransport reports whether caller, a function that reported a
// GotConn event, belongs to net/http or golang.org/x/net/http2, whose
// transports report every header field before they write it.
func fromGoTransport(caller string) bool {
	return strings.HasPrefix(caller, "net/http.") || strings.HasPrefix(caller, "golang.org/x/net/http2.")
}

// gotConnCaller returns the function that reported the GotConn event being
// handled, seen through this package's hooks and httptrace's composition
// of the hooks of several traces ("" when not found). It reads the stack
// a few frames at a time, as far as the relays go (each trace composed on
// the SDK's adds some), and allocates nothing: it runs for the first send
// of each POST through a RoundTripper other than net/http's own.
func gotConnCaller() string {
	var pcs [16]uintptr
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			// pc is a return address: pc-1 lies in the call, in the function
			// that made it (the innermost one, when calls were inlined).
			fn := runtime.FuncForPC(pc - 1)
			if fn == nil {
				return ""
			}
			if name := fn.Name(); !relaysTraceEvents(name) {
				return name
			}
		}
		if n < len(pcs) {
			return ""
		}
	}
}

// ownFuncPrefix begins the names of this package's functions in a stack.
var ownFuncPrefix = func() string {
	name := runtime.FuncForPC(reflect.ValueOf(idempotent).Pointer()).Name()
	return name[:strings.LastIndex(name, ".")+1]
}()

// relaysTraceEvents reports a function that may stand between a transport
// and the guard's hook: the guard's own, and httptrace's composition.
func relaysTraceEvents(function string) bool {
	for _, prefix := range [...]string{ownFuncPrefix, "net/http/httptrace.", "reflect.", "runtime."} {
		if strings.HasPrefix(function, prefix) {
			return true
		}
	}
	return false
}

// stackHeads hold the first line of a goroutine's stack trace.
var stackHeads = sync.Pool{New: func() any { return new([64]byte) }}

// goroutineID returns the id of the calling goroutine, read from the head of
// its stack trace ("goroutine 42 [running]:"), or 0 when it cannot. Go has
// no other way to tell goroutines apart, and the guard must: a transport's
// send on the goroutine of the send that may write comes after that send
// (a retry), one on another goroutine may run beside it (a hedge). It
// walks the whole stack, and runs only for POSTs through a RoundTripper
// other than net/http's own, on a connection that may be shared.
func goroutineID() uint64 {
	const prefix = "goroutine "
	buf := stackHeads.Get().(*[64]byte)
	defer stackHeads.Put(buf)
	head := buf[:runtime.Stack(buf[:], false)]
	if len(head) <= len(prefix) || string(head[:len(prefix)]) != prefix {
		return 0
	}
	var id uint64
	for _, c := range head[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// connClosed reports whether conn was closed, when it can tell: a TCP or
// Unix connection, or TLS over one. It reads and writes nothing.
func connClosed(conn net.Conn) bool {
	if tlsConn, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = tlsConn.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	return err == nil && raw.Control(func(uintptr) {}) != nil
}

// sameConn reports whether a and b are one connection, without the panic
// of == on a connection type that is not comparable.
func sameConn(a, b net.Conn) bool {
	return a != nil && b != nil && reflect.ValueOf(a).Comparable() && reflect.ValueOf(b).Comparable() && a == b
}

// cancelRelay hands a POST's Cancel channel (sendGuard.stopped) on to a
// RoundTripper other than net/http's own. An http.Client with a Timeout
// puts a channel of its own in its place, and stops relaying to it once
// the answer's body was read: a copy held until then, on a context a
// hedging transport detached from the request's, would then write. The
// client's deadline stays in the request's context, where it sets it too.
type cancelRelay struct{ next http.RoundTripper }

func (r cancelRelay) RoundTrip(req *http.Request) (*http.Response, error) {
	guard, ok := req.Context().Value(guardKey{}).(*sendGuard)
	//lint:ignore SA1019 see sendGuard.stopped
	if !ok || guard.stopped == nil || req.Cancel == guard.stopped {
		return r.next.RoundTrip(req)
	}
	relayed := req.WithContext(req.Context()) // a RoundTripper must not modify req
	//lint:ignore SA1019 see sendGuard.stopped
	relayed.Cancel = guard.stopped
	return r.next.RoundTrip(relayed)
}

// CloseIdleConnections closes the next RoundTripper's idle connections.
func (r cancelRelay) CloseIdleConnections() {
	if closer, ok := r.next.(interface{ CloseIdleConnections() }); ok {
		closer.CloseIdleConnections()
	}
}

// blindTransportWarning is logged once per client whose transport does not
// carry the request's context.
const blindTransportWarning = "kryptogo: the HTTP transport does not pass the request's context on " +
	"(it rebuilds requests, as with http.NewRequest), so the SDK cannot see what it sends: " +
	"it cannot stop the transport from sending a POST twice, and reports every failed POST as maybe sent " +
	"(ErrMaybeSent) without retrying it. Build each outgoing request with req.Clone(req.Context()) or req.WithContext"

// warnBlindTransport logs blindTransportWarning once per client, at WARN,
// with the call's logger or else slog's default one.
func (c *Client) warnBlindTransport(ctx context.Context, cfg *callConfig) {
	if !c.blindWarned.CompareAndSwap(false, true) {
		return
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, slog.LevelWarn, blindTransportWarning, slog.String("base_url", c.base.String()))
}
