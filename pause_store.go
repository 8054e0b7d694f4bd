package kryptogo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// The scopes of the pauses a PauseStore holds: the client's calls, and the
// confirmations of its CallbackHandlers (a pause of their own, see
// confirm.go).
const (
	pauseScopeClient  = "client"
	pauseScopeConfirm = "confirm"
)

// keyedScope names scope's pause for the API key apiKey: the API limits
// each key, so clients of different keys sharing one store keep their
// pauses apart. The key is named by a digest, never itself: the store's
// keys are visible to whoever reads Redis or the database.
func keyedScope(scope, apiKey string) string {
	sum := sha256.Sum256([]byte("kryptogo-go pause scope\x00" + apiKey))
	return scope + ":" + hex.EncodeToString(sum[:8])
}

// pauseStoreTimeout bounds one round trip to a PauseStore: a store that
// hangs delays an attempt by this much at most, then the call goes on with
// the pause this process knows of (fail open).
const pauseStoreTimeout = time.Second

// WithPauseStore shares the client's 429 pause (and its handlers'
// confirmations') through store with every process of the same API key. A
// failing store fails open (README: "Scaling out"); keep the clocks in sync.
func WithPauseStore(store PauseStore) Option {
	return func(s *settings) error {
		if err := s.clientOnly("WithPauseStore"); err != nil {
			return err
		}
		if store == nil {
			return errors.New("kryptogo: WithPauseStore: nil store")
		}
		s.pauses = store
		return nil
	}
}

// pauseStoreRetry is how long a client goes on without a store that
// failed before it reads it again: a store that hangs then delays one
// attempt by pauseStoreTimeout, not every one. A 429 is still written to
// it at once.
const pauseStoreRetry = time.Second

// sharedPause is a flow's pause kept in a PauseStore under scope.
type sharedPause struct {
	store   PauseStore
	scope   string
	retry   time.Duration // pauseStoreRetry; a test's own when it cannot keep to one
	down    atomic.Bool   // the last round trip failed, and the loss was logged
	retryAt atomic.Int64  // after a failure, when to read the store again (Unix ns)
}

// read returns the end of the shared pause; ok is false when the store
// failed, or failed less than pauseStoreRetry ago and is not asked.
func (p *sharedPause) read(ctx context.Context, cfg *callConfig) (time.Time, bool) {
	if time.Now().UnixNano() < p.retryAt.Load() {
		return time.Time{}, false
	}
	sctx, cancel := context.WithTimeout(ctx, pauseStoreTimeout)
	defer cancel()
	until, err := p.store.PausedUntil(sctx, p.scope)
	if err != nil && ctx.Err() != nil {
		return time.Time{}, false // the call ended, not the store
	}
	return until, p.report(sctx, cfg, "PausedUntil", err)
}

// extend makes the shared pause last at least until end, and returns the
// end in force; ok is false when the store failed. The write outlives the
// call's context: the other processes must learn of the 429 even when the
// call that got it was cancelled.
func (p *sharedPause) extend(ctx context.Context, cfg *callConfig, end time.Time) (time.Time, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pauseStoreTimeout)
	defer cancel()
	until, err := p.store.ExtendPause(ctx, p.scope, end)
	return until, p.report(ctx, cfg, "ExtendPause", err)
}

// report logs the store's loss and its return once each, and reports
// whether the round trip succeeded.
func (p *sharedPause) report(ctx context.Context, cfg *callConfig, method string, err error) bool {
	if err == nil {
		p.retryAt.Store(0)
		if p.down.CompareAndSwap(true, false) && cfg.logger != nil {
			cfg.logger.LogAttrs(ctx, slog.LevelInfo, "kryptogo pause store answers again", slog.String("scope", p.scope))
		}
		return true
	}
	p.retryAt.Store(time.Now().Add(p.retry).UnixNano())
	if !p.down.Swap(true) && cfg.logger != nil {
		cfg.logger.LogAttrs(ctx, slog.LevelWarn, "kryptogo pause store failed: the pause is this process's alone until it answers",
			slog.String("scope", p.scope), slog.String("method", method), slog.String("error", err.Error()))
	}
	return false
}
