package redisstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// closedClient returns a client of a loopback port nothing listens on,
// that tries once per command.
func closedClient(t *testing.T) *redis.Client {
	rdb := redis.NewClient(noRetries(closedAddr(t)))
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// flakyProxy forwards connections to a Redis server until it is set down:
// then it breaks every open connection and refuses new ones (accepts and
// closes them), as a server that died or a network that broke.
type flakyProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &flakyProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *flakyProxy) addr() string { return p.ln.Addr().String() }

func (p *flakyProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
		p.mu.Unlock()
	}
}

func (p *flakyProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

// logBuffer collects a logger's output for a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// noRetries is a client configuration that fails fast: the tests below
// are about what the store does with a failure, not about go-redis's
// retries.
func noRetries(addr string) *redis.Options {
	return &redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second}
}

// everyStoreMethod calls each store method and returns their errors by
// name.
func everyStoreMethod(ctx context.Context, s *Store) map[string]error {
	return map[string]error{
		"Claim":            errOf3(s.Claim(ctx, "k", "a", "fp", time.Minute)),
		"MarkInDoubt":      s.MarkInDoubt(ctx, "k", "a", time.Now()),
		"Complete":         errOf2(s.Complete(ctx, "k", "a", []byte("1"))),
		"Release":          s.Release(ctx, "k", "a", true),
		"Get":              errOf3(s.Get(ctx, "k")),
		"Forget":           s.Forget(ctx, "k"),
		"ClaimCallback":    errOf2(s.ClaimCallback(ctx, "k", "a", time.Minute)),
		"CompleteCallback": s.CompleteCallback(ctx, "k", "a"),
		"ReleaseCallback":  s.ReleaseCallback(ctx, "k", "a"),
		"ExtendPause":      errOf2(s.ExtendPause(ctx, "client", time.Now().Add(time.Second))),
		"PausedUntil":      errOf2(s.PausedUntil(ctx, "client")),
	}
}

// TestStoreFailsClosedWhenRedisIsDown checks that with no server every
// store method returns an error that names the method and wraps the
// network's: the client then does not send, and the callback handler
// answers 503.
func TestStoreFailsClosedWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	s := New(closedClient(t))
	for method, err := range everyStoreMethod(t.Context(), s) {
		t.Run(method, func(t *testing.T) {
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "+method+": "), "error %q does not name the method", err)
			assert.ErrorIs(t, err, syscall.ECONNREFUSED)
			assert.NotErrorIs(t, err, kryptogo.ErrNotHolder, "an outage must not read as a lost lease")
		})
	}
}

// TestStoreFailsClosedWhenRedisDies checks the same for a server that
// worked and then went away, breaking the client's open connections.
func TestStoreFailsClosedWhenRedisDies(t *testing.T) {
	t.Parallel()
	proxy := newFlakyProxy(t, needServer(t, envAddr))
	rdb := redis.NewClient(noRetries(proxy.addr()))
	t.Cleanup(func() { _ = rdb.Close() })
	s := newTestStore(t, newServerClient(t)) // the prefix, and its clean-up, on a direct client
	s.rdb = rdb
	for method, err := range everyStoreMethod(t.Context(), s) {
		require.NoError(t, err, method)
	}
	proxy.setDown(true)
	for method, err := range everyStoreMethod(t.Context(), s) {
		t.Run(method, func(t *testing.T) {
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "+method+": "), "error %q does not name the method", err)
		})
	}
}

// TestLimiterFailsOpenToALocalLimit checks that with no server Wait still
// paces this process at the limiter's rate, and logs the loss once.
func TestLimiterFailsOpenToALocalLimit(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	s := New(closedClient(t), WithLogger(logs.logger()))
	l := s.Limiter("api", 20, time.Second)
	const waits = 6
	start := time.Now()
	for range waits {
		require.NoError(t, l.Wait(t.Context()))
	}
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, (waits-1)*50*time.Millisecond, "%d Waits in %v: not paced", waits, elapsed)
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "one record for the outage, got:\n%s", logs.String())
	assert.Contains(t, logs.String(), `level=WARN msg="redisstore: rate limiter cannot reach Redis`)
	assert.Contains(t, logs.String(), "connection refused")
	assert.Contains(t, logs.String(), "limiter=api")

	t.Run("context still ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		l := s.Limiter("slow", 1, time.Hour)
		require.NoError(t, l.Wait(ctx))
		time.AfterFunc(20*time.Millisecond, cancel)
		require.Equal(t, context.Canceled, l.Wait(ctx))
	})
}

// TestLimiterRecovers takes Redis away from a limiter and gives it back:
// the limiter paces locally meanwhile, logs both changes once, and shares
// the limit in Redis again afterwards.
func TestLimiterRecovers(t *testing.T) {
	t.Parallel()
	direct := newServerClient(t)
	proxy := newFlakyProxy(t, needServer(t, envAddr))
	rdb := redis.NewClient(noRetries(proxy.addr()))
	t.Cleanup(func() { _ = rdb.Close() })
	var logs logBuffer
	s := New(rdb, WithPrefix(testPrefix(t, direct)), WithLogger(logs.logger()))
	s.limiterRetry = 50 * time.Millisecond
	l := s.Limiter("api", 1000, time.Second).(*limiter)

	require.NoError(t, l.Wait(t.Context()))
	shared := tat(t, direct, l)
	require.NotEmpty(t, shared, "the limiter did not use Redis")

	proxy.setDown(true)
	for range 5 {
		require.NoError(t, l.Wait(t.Context()))
	}
	assert.True(t, l.down, "the limiter did not notice Redis went away")
	assert.Equal(t, shared, tat(t, direct, l), "a Wait reached Redis through a proxy that was down")
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "logs:\n%s", logs.String())

	proxy.setDown(false)
	eventually(t, "the limiter uses Redis again", func() bool {
		require.NoError(t, l.Wait(t.Context()))
		return tat(t, direct, l) != shared
	})
	assert.False(t, l.down)
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "logs:\n%s", logs.String())
	assert.Equal(t, 1, strings.Count(logs.String(), `level=INFO msg="redisstore: rate limiter reaches Redis again`), "logs:\n%s", logs.String())
}

// TestLimiterProbesRedisOneCallerAtATime checks that while Redis is down,
// callers do not all wait on it: one probes, the others pace locally.
func TestLimiterProbesRedisOneCallerAtATime(t *testing.T) {
	t.Parallel()
	s := New(closedClient(t), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	l := s.Limiter("api", 1000, time.Second).(*limiter)
	l.reportRedis(errors.New("down"))
	assert.False(t, l.useRedis(), "a caller went to Redis before the retry time")
	l.mu.Lock()
	l.downUntil = time.Now().Add(-time.Millisecond)
	l.mu.Unlock()
	assert.True(t, l.useRedis(), "no caller probes Redis after the retry time")
	assert.False(t, l.useRedis(), "a second caller probes Redis while the first does")
	l.reportRedis(errors.New("still down"))
	assert.False(t, l.useRedis(), "the failed probe did not restart the retry time")
}

// silentAddr returns a loopback address that accepts connections and never
// answers, as a server that hangs.
func silentAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestLimiterProbeAbandonedIsNoRecovery checks that a probe of a Redis that
// is down, abandoned because the caller's context ended, does not count
// as Redis answering again.
func TestLimiterProbeAbandonedIsNoRecovery(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(hangingOptions(silentAddr(t)))
	t.Cleanup(func() { _ = rdb.Close() })
	var logs logBuffer
	l := New(rdb, WithLogger(logs.logger())).Limiter("api", 1000, time.Second).(*limiter)
	l.reportRedis(errors.New("down"))
	l.mu.Lock()
	l.downUntil = time.Now().Add(-time.Millisecond) // the next caller probes
	l.mu.Unlock()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	require.Equal(t, context.Canceled, waitWithin(t, l, ctx))
	assert.True(t, l.down, "an abandoned probe marked Redis up")
	assert.NotContains(t, logs.String(), "reaches Redis again")
	assert.True(t, l.useRedis(), "the abandoned probe did not let another caller probe")
}

// hangingOptions is a client configuration whose calls to a server that
// does not answer hang for an hour: only the caller's context can end them.
func hangingOptions(addr string) *redis.Options {
	return &redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: time.Hour, ReadTimeout: time.Hour, WriteTimeout: time.Hour}
}

// waitWithin runs l.Wait(ctx) and fails the test when it has not returned
// within patience of ctx's end.
func waitWithin(t *testing.T, l kryptogo.RateLimiter, ctx context.Context) error {
	t.Helper()
	waited := make(chan error, 1)
	go func() { waited <- l.Wait(ctx) }()
	<-ctx.Done()
	select {
	case err := <-waited:
		return err
	case <-time.After(patience):
		t.Fatalf("Wait did not return within %v of its context's end", patience)
		return nil
	}
}

// TestLimiterWaitEndsWithContextWhenRedisHangs checks that a Wait whose
// context ends returns at once, though Redis has not answered (and the
// client's own timeouts are long).
func TestLimiterWaitEndsWithContextWhenRedisHangs(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(hangingOptions(silentAddr(t)))
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(rdb).Limiter("api", 1000, time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	require.Equal(t, context.Canceled, waitWithin(t, l, ctx))
}
