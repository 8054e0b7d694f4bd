package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// The limiter is a GCRA (generic cell rate algorithm) without burst: one
// key holds the theoretical arrival time (TAT) of the next request, in
// microseconds on the Redis server's clock, and each request reserves the
// slot at max(TAT, now) and moves the TAT one interval (per/limit) on. So
// requests go at least one interval apart, whichever process sends them:
// at most limit in any window of length per (limit+1 when the window is
// closed at both ends).

// reserveScript: KEYS[1] the limiter's key; ARGV interval µs, the longest
// wait the caller accepts in µs (negative: any). Returns {1, wait µs, new
// TAT} when a slot is reserved, {0, wait µs, 0} when it would be too far.
var reserveScript = redis.NewScript(luaPrelude + `
local interval, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if max_wait >= 0 and wait > max_wait then return {0, wait, 0} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], int(new_tat), 'PX', int(math.ceil((new_tat - now) / 1000) + 1000))
return {1, wait, new_tat}
`)

// refundScript: KEYS[1] the limiter's key; ARGV the TAT a reservation
// set, interval µs. Gives the reserved slot back when no later
// reservation was made (else the slot stays unused: the limit holds).
var refundScript = redis.NewScript(luaPrelude + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('SET', KEYS[1], int(tat), 'PX', int(math.ceil(math.max(tat - now, 0) / 1000) + 1000))
return 1
`)

// refundTimeout bounds the round trip that gives a slot back after the
// caller's context ended.
const refundTimeout = 250 * time.Millisecond

// Limiter returns a rate limiter shared by every process whose Store uses
// the same Redis and prefix: requests through all limiters of one name go
// at least per/limit apart (at most limit in any window of length per),
// in the order they asked. Every process must give a name the same limit
// and per. It fits kryptogo.WithRateLimiter:
//
//	client, err := kryptogo.NewClientFromEnv(kryptogo.WithRateLimiter(store.Limiter("api", 20, time.Second)))
//
// Wait reserves the next slot in one script and sleeps until it comes;
// when the context ends first it returns the context's error and gives
// the slot back (unless a later caller reserved after it). When the
// context's deadline comes before the slot, Wait returns at once with an
// error matching context.DeadlineExceeded.
//
// When Redis cannot be reached, Wait fails open to a limit of the same
// rate kept in this process (see the package documentation): it logs the
// loss and the recovery once each, and tries Redis again every second.
//
// A limit or per that is not positive, or an empty name, makes every Wait
// fail with an error that says so.
func (s *Store) Limiter(name string, limit int, per time.Duration) kryptogo.RateLimiter {
	l := &limiter{store: s, name: name, key: s.redisKey(limiterKind, name)}
	switch {
	case name == "":
		l.err = errors.New("redisstore: Limiter: the name is empty")
	case limit <= 0 || per <= 0:
		l.err = fmt.Errorf("redisstore: Limiter %q: %d per %v is not a rate (both must be positive)", name, limit, per)
	default:
		// Rounded up, to the microsecond the script counts in: never faster
		// than asked.
		l.interval = max((per+time.Duration(limit)-1)/time.Duration(limit), time.Microsecond)
		l.interval = (l.interval + time.Microsecond - 1).Truncate(time.Microsecond)
	}
	return l
}

type limiter struct {
	store    *Store
	name     string
	key      string
	interval time.Duration
	err      error // a bad configuration

	mu        sync.Mutex
	down      bool      // Redis failed: pace locally
	downUntil time.Time // when to try Redis again
	probing   bool      // one caller is trying Redis again
	localTAT  time.Time // the local GCRA, while down
}

// reservation is a reserved slot: wait until it comes, and how to give it
// back.
type reservation struct {
	wait   time.Duration
	ok     bool // false: the slot is past the caller's deadline
	tat    int64
	remote bool // reserved in Redis (else locally)
}

// Wait implements kryptogo.RateLimiter.
func (l *limiter) Wait(ctx context.Context) error {
	if l.err != nil {
		return l.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	maxWait := time.Duration(-1)
	if deadline, ok := ctx.Deadline(); ok {
		if maxWait = time.Until(deadline); maxWait <= 0 {
			return context.DeadlineExceeded
		}
	}
	r, err := l.reserve(ctx, maxWait)
	if err != nil {
		return err
	}
	if !r.ok {
		return fmt.Errorf("redisstore: rate limiter %q: the next slot is %v away, past the context's deadline: %w",
			l.name, r.wait, context.DeadlineExceeded)
	}
	if r.wait <= 0 {
		return nil
	}
	timer := time.NewTimer(r.wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		l.refund(ctx, r)
		return ctx.Err()
	}
}

// reserve takes the next slot in Redis, or locally while Redis is down.
func (l *limiter) reserve(ctx context.Context, maxWait time.Duration) (reservation, error) {
	if !l.useRedis() {
		return l.reserveLocally(maxWait), nil
	}
	r, err := l.reserveInRedis(ctx, maxWait)
	if err != nil && ctx.Err() != nil {
		l.abandonProbe() // the caller gave up: no news about Redis
		return reservation{}, ctx.Err()
	}
	l.reportRedis(err)
	if err != nil {
		return l.reserveLocally(maxWait), nil
	}
	return r, nil
}

// reserveInRedis runs the reservation script, and returns as soon as ctx
// ends: the go-redis client does not stop waiting for an answer when a
// context is cancelled (only its own timeouts end a call), and a Wait
// must not outlive its context. The script then runs to its end, and a
// slot it reserves too late is given back.
func (l *limiter) reserveInRedis(ctx context.Context, maxWait time.Duration) (reservation, error) {
	type answer struct {
		r   reservation
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		r, err := l.runReserveScript(context.WithoutCancel(ctx), maxWait)
		answered <- answer{r, err}
	}()
	select {
	case a := <-answered:
		return a.r, a.err
	case <-ctx.Done():
		go func() {
			if a := <-answered; a.err == nil && a.r.ok {
				l.refund(ctx, a.r)
			}
		}()
		return reservation{}, ctx.Err()
	}
}

func (l *limiter) runReserveScript(ctx context.Context, maxWait time.Duration) (reservation, error) {
	maxWaitMicros := int64(-1)
	if maxWait >= 0 {
		maxWaitMicros = maxWait.Microseconds()
	}
	v, err := reserveScript.Run(ctx, l.store.rdb, []string{l.key}, l.interval.Microseconds(), maxWaitMicros).Int64Slice()
	if err != nil {
		return reservation{}, err
	}
	if len(v) != 3 {
		return reservation{}, fmt.Errorf("unexpected answer of %d values", len(v))
	}
	return reservation{ok: v[0] == 1, wait: time.Duration(v[1]) * time.Microsecond, tat: v[2], remote: true}, nil
}

// useRedis reports whether this call goes to Redis: always while Redis
// answers; while it is down, one caller at a time once the retry time has
// come.
func (l *limiter) useRedis() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return true
	}
	if l.probing || time.Now().Before(l.downUntil) {
		return false
	}
	l.probing = true
	return true
}

// abandonProbe ends a call to Redis that brought no news (the caller's
// context ended first): another caller may probe.
func (l *limiter) abandonProbe() {
	l.mu.Lock()
	l.probing = false
	l.mu.Unlock()
}

// reportRedis records how a call to Redis went, logging the changes
// between up and down.
func (l *limiter) reportRedis(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.probing = false
	switch {
	case err == nil && l.down:
		l.down = false
		l.store.logger.Info("redisstore: rate limiter reaches Redis again: the limit is shared again", "limiter", l.name)
	case err != nil:
		if !l.down {
			l.store.logger.Warn("redisstore: rate limiter cannot reach Redis: it paces this process alone until Redis answers",
				"limiter", l.name, "error", err)
			l.localTAT = time.Time{}
		}
		l.down = true
		l.downUntil = time.Now().Add(l.store.limiterRetry)
	}
}

// reserveLocally is the GCRA of reserveScript, kept in this process.
func (l *limiter) reserveLocally(maxWait time.Duration) reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	tat := l.localTAT
	if tat.Before(now) {
		tat = now
	}
	wait := tat.Sub(now)
	if maxWait >= 0 && wait > maxWait {
		return reservation{wait: wait}
	}
	l.localTAT = tat.Add(l.interval)
	return reservation{ok: true, wait: wait, tat: l.localTAT.UnixMicro()}
}

// refund gives a slot back when no later caller reserved after it; a
// slot that stays unused only slows the limiter down.
func (l *limiter) refund(ctx context.Context, r reservation) {
	if !r.remote {
		l.mu.Lock()
		if l.localTAT.UnixMicro() == r.tat {
			l.localTAT = l.localTAT.Add(-l.interval)
		}
		l.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	_ = refundScript.Run(ctx, l.store.rdb, []string{l.key}, r.tat, l.interval.Microseconds()).Err()
}
