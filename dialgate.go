package kryptogo

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialGate keeps the SDK's own transport from opening connections that no
// attempt needs. net/http dials for every request that finds no idle
// connection, and hands whichever connection comes first, idle or dialled,
// to whichever request waits: a request whose dial is under way takes a
// connection another call just put back, that call's next request dials
// again, and the dial in flight ends as one connection more than callers.
//
// The gate counts the client's attempts in flight (from their send until
// their connection is back in the pool) and its connections (open or being
// dialled). A dial while the connections are at least the attempts is one
// no attempt needs: every attempt has a connection or one coming. It waits
// until an attempt needs it (more attempts than connections: it dials), or
// for surplusHold, after which it fails without dialling if the request it
// was started for has had a connection (net/http drops the error of a
// dial no request waits for); if that request still waits (the dial it
// will get is slower than surplusHold), it dials.
type dialGate struct {
	conns    atomic.Int64  // open connections, and dials under way; changed under mu
	inflight atomic.Int64  // attempts sent and not yet done with their connection
	held     atomic.Int64  // dials that waited at the gate (for tests)
	hold     time.Duration // how long a dial waits for a need (surplusHold; tests lengthen it)
	mu       sync.Mutex
	changed  chan struct{} // closed (and replaced) when a dial may be needed
}

// surplusHold is how long a dial no attempt needs waits for one that does.
const surplusHold = 100 * time.Millisecond

// errSurplusDial ends a dial no attempt needed; no request sees it.
var errSurplusDial = errors.New("kryptogo: a dial no request needed (every request had a connection)")

func newDialGate() *dialGate { return &dialGate{hold: surplusHold, changed: make(chan struct{})} }

// notify wakes the dials that wait. g.mu is held.
func (g *dialGate) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// begin counts n attempts in flight; end, once they are done with their
// connections. (No lock unless a dial may wait: admit reads the count under
// the lock that notify takes, so a dial that saw too few attempts is woken.)
func (g *dialGate) begin(n int64) {
	if total := g.inflight.Add(n); g.conns.Load() < total {
		g.mu.Lock()
		g.notify()
		g.mu.Unlock()
	}
}

func (g *dialGate) end(n int64) { g.inflight.Add(-n) }

// gateOpen is what an attempt through a Middleware counts as: any number of
// sends, at once (a hedging one), so every dial goes through while it lasts.
const gateOpen = 1 << 30

// closed counts a connection closed, or a dial that failed.
func (g *dialGate) closed() {
	g.mu.Lock()
	g.conns.Add(-1)
	g.notify()
	g.mu.Unlock()
}

// admit waits until a dial is needed, and counts it. A dial held for
// surplusHold whose request still waits for a connection goes through: a
// dial under way that it would have got may take longer (a distant API, a
// slow TLS handshake), and failing it would fail the request.
func (g *dialGate) admit(ctx context.Context) error {
	var hold *time.Timer
	guard, _ := ctx.Value(guardKey{}).(*sendGuard) // the dial's context keeps its request's values
	var conns int32
	if guard != nil {
		conns = guard.conns.Load()
	}
	g.mu.Lock()
	for g.conns.Load() >= g.inflight.Load() {
		changed := g.changed
		g.mu.Unlock()
		if hold == nil {
			g.held.Add(1)
			hold = time.NewTimer(g.hold)
			defer hold.Stop()
		}
		select {
		case <-changed:
		case <-hold.C:
			if guard == nil || guard.conns.Load() != conns || (guard.ctx != nil && guard.ctx.Err() != nil) {
				return &net.OpError{Op: "dial", Err: errSurplusDial}
			}
			g.mu.Lock()
			g.conns.Add(1) // its request has no connection yet: it may need this one
			g.mu.Unlock()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
	g.conns.Add(1)
	g.mu.Unlock()
	return nil
}

// wrap returns dial behind the gate.
func (g *dialGate) wrap(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := g.admit(ctx); err != nil {
			return nil, err
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			g.closed()
			return nil, err
		}
		return &gatedConn{Conn: conn, gate: g}, nil
	}
}

// gatedConn is a connection the gate counts until it is closed.
type gatedConn struct {
	net.Conn
	gate *dialGate
	once sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(c.gate.closed)
	return c.Conn.Close()
}
