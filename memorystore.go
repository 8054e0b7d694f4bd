package kryptogo

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Default retention of the SDK's stores.
const (
	DefaultKeyRetention      = 24 * time.Hour     // an idempotency key, after its last change
	DefaultCallbackRetention = 7 * 24 * time.Hour // a processed callback
)

// MemoryStore is an IdempotencyStore, CallbackStore and PauseStore in memory,
// for one process. It is safe for concurrent use.
type MemoryStore struct {
	mu        sync.Mutex
	keys      map[string]*memoryKey
	callbacks map[string]*memoryCallback
	pauses    map[string]time.Time

	keyRetention      time.Duration
	callbackRetention time.Duration
	now               func() time.Time // a test hook
	nextSweep         time.Time
}

type memoryKey struct {
	KeyRecord
	expires time.Time
}

type memoryCallback struct {
	holder     string
	leaseUntil time.Time
	done       bool
	expires    time.Time
}

// MemoryStoreOption configures a MemoryStore.
type MemoryStoreOption func(*MemoryStore)

// WithKeyRetention sets how long the store keeps an idempotency key.
func WithKeyRetention(d time.Duration) MemoryStoreOption {
	return func(s *MemoryStore) {
		if d > 0 {
			s.keyRetention = d
		}
	}
}

// WithCallbackRetention sets how long the store remembers a callback.
func WithCallbackRetention(d time.Duration) MemoryStoreOption {
	return func(s *MemoryStore) {
		if d > 0 {
			s.callbackRetention = d
		}
	}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...MemoryStoreOption) *MemoryStore {
	s := &MemoryStore{
		keys:              map[string]*memoryKey{},
		callbacks:         map[string]*memoryCallback{},
		pauses:            map[string]time.Time{},
		keyRetention:      DefaultKeyRetention,
		callbackRetention: DefaultCallbackRetention,
		now:               time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// sweepEvery is how often expired records are dropped from the maps;
// between sweeps an expired record is treated as absent when it is met.
const sweepEvery = time.Minute

// lock takes the store's lock, drops expired records when a sweep is due,
// and returns the time of the operation.
func (s *MemoryStore) lock() time.Time {
	s.mu.Lock()
	now := s.now()
	if now.After(s.nextSweep) {
		s.sweep(now)
		s.nextSweep = now.Add(sweepEvery)
	}
	return now
}

func (s *MemoryStore) sweep(now time.Time) {
	for k, r := range s.keys {
		if !now.Before(r.expires) {
			delete(s.keys, k)
		}
	}
	for k, r := range s.callbacks {
		if !now.Before(r.expires) {
			delete(s.callbacks, k)
		}
	}
	for scope, until := range s.pauses {
		if !now.Before(until) {
			delete(s.pauses, scope)
		}
	}
}

// key returns the live record of key, or nil.
func (s *MemoryStore) key(key string, now time.Time) *memoryKey {
	r := s.keys[key]
	if r == nil || !now.Before(r.expires) {
		return nil
	}
	return r
}

// snapshot copies a record out of the store, so the caller cannot change it.
func (r *memoryKey) snapshot() KeyRecord {
	out := r.KeyRecord
	out.Result = slices.Clone(r.Result)
	return out
}

// Claim implements IdempotencyStore.
func (s *MemoryStore) Claim(_ context.Context, key, token, fingerprint string, lease time.Duration) (KeyRecord, bool, error) {
	if token == "" {
		return KeyRecord{}, false, errEmptyToken
	}
	now := s.lock()
	defer s.mu.Unlock()
	r := s.key(key, now)
	switch {
	case r == nil:
		r = &memoryKey{KeyRecord: KeyRecord{Key: key, Fingerprint: fingerprint}}
		s.keys[key] = r
	case r.Done || (r.Holder != token && r.held(now)):
		return r.snapshot(), false, nil
	}
	r.Holder, r.LeaseUntil = token, now.Add(lease)
	r.expires = later(now.Add(s.keyRetention), r.LeaseUntil)
	return r.snapshot(), true, nil
}

// MarkInDoubt implements IdempotencyStore.
func (s *MemoryStore) MarkInDoubt(_ context.Context, key, token string, sentAt time.Time) error {
	now := s.lock()
	defer s.mu.Unlock()
	r := s.key(key, now)
	if r == nil || r.Done || r.Holder != token {
		return ErrNotHolder
	}
	if !r.InDoubt || sentAt.Before(r.SentAt) {
		r.SentAt = sentAt
	}
	r.InDoubt = true
	r.expires = later(now.Add(s.keyRetention), r.LeaseUntil)
	return nil
}

// later returns the later of two times: a record lives until its
// retention has passed and its lease has ended.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Complete implements IdempotencyStore.
func (s *MemoryStore) Complete(_ context.Context, key, token string, result []byte) (KeyRecord, error) {
	now := s.lock()
	defer s.mu.Unlock()
	r := s.key(key, now)
	if r == nil {
		r = &memoryKey{KeyRecord: KeyRecord{Key: key}}
		s.keys[key] = r
	}
	if !r.Done {
		r.Done, r.Result = true, slices.Clone(result)
		r.InDoubt, r.Holder, r.LeaseUntil = false, "", time.Time{}
		r.expires = now.Add(s.keyRetention)
	}
	return r.snapshot(), nil
}

// Release implements IdempotencyStore.
func (s *MemoryStore) Release(_ context.Context, key, token string, inDoubt bool) error {
	now := s.lock()
	defer s.mu.Unlock()
	r := s.key(key, now)
	if r == nil || r.Done || r.Holder != token {
		return nil
	}
	if !inDoubt {
		delete(s.keys, key)
		return nil
	}
	r.Holder, r.LeaseUntil = "", time.Time{}
	r.InDoubt = true
	r.expires = now.Add(s.keyRetention)
	return nil
}

// Get implements IdempotencyStore.
func (s *MemoryStore) Get(_ context.Context, key string) (KeyRecord, bool, error) {
	now := s.lock()
	defer s.mu.Unlock()
	if r := s.key(key, now); r != nil {
		return r.snapshot(), true, nil
	}
	return KeyRecord{}, false, nil
}

// Forget implements IdempotencyStore.
func (s *MemoryStore) Forget(_ context.Context, key string) error {
	now := s.lock()
	defer s.mu.Unlock()
	if r := s.key(key, now); r != nil && !r.Done && r.held(now) {
		return ErrNotHolder
	}
	delete(s.keys, key)
	return nil
}

// callback returns the live record of a callback key, or nil.
func (s *MemoryStore) callback(key string, now time.Time) *memoryCallback {
	r := s.callbacks[key]
	if r == nil || !now.Before(r.expires) {
		return nil
	}
	return r
}

// ClaimCallback implements CallbackStore.
func (s *MemoryStore) ClaimCallback(_ context.Context, key, token string, lease time.Duration) (CallbackClaim, error) {
	if token == "" {
		return CallbackClaim{}, errEmptyToken
	}
	now := s.lock()
	defer s.mu.Unlock()
	r := s.callback(key, now)
	switch {
	case r == nil:
		r = &memoryCallback{}
		s.callbacks[key] = r
	case r.done:
		return CallbackClaim{State: CallbackDone}, nil
	case r.holder != token && now.Before(r.leaseUntil):
		return CallbackClaim{State: CallbackBusy, RetryAfter: r.leaseUntil.Sub(now)}, nil
	}
	r.holder, r.leaseUntil = token, now.Add(lease)
	r.expires = r.leaseUntil // an unfinished claim is forgotten with its lease
	return CallbackClaim{State: CallbackClaimed}, nil
}

// CompleteCallback implements CallbackStore.
func (s *MemoryStore) CompleteCallback(_ context.Context, key, _ string) error {
	now := s.lock()
	defer s.mu.Unlock()
	r := s.callback(key, now)
	if r == nil {
		r = &memoryCallback{}
		s.callbacks[key] = r
	}
	if !r.done {
		r.done, r.holder, r.leaseUntil = true, "", time.Time{}
		r.expires = now.Add(s.callbackRetention)
	}
	return nil
}

// ReleaseCallback implements CallbackStore.
func (s *MemoryStore) ReleaseCallback(_ context.Context, key, token string) error {
	now := s.lock()
	defer s.mu.Unlock()
	if r := s.callback(key, now); r != nil && !r.done && r.holder == token {
		delete(s.callbacks, key)
	}
	return nil
}

// ExtendPause implements PauseStore.
func (s *MemoryStore) ExtendPause(_ context.Context, scope string, until time.Time) (time.Time, error) {
	s.lock()
	defer s.mu.Unlock()
	if until.After(s.pauses[scope]) {
		s.pauses[scope] = until
	}
	return s.pauses[scope], nil
}

// PausedUntil implements PauseStore.
func (s *MemoryStore) PausedUntil(_ context.Context, scope string) (time.Time, error) {
	s.lock()
	defer s.mu.Unlock()
	return s.pauses[scope], nil
}

// The memory store is each of the stores.
var (
	_ IdempotencyStore = (*MemoryStore)(nil)
	_ CallbackStore    = (*MemoryStore)(nil)
	_ PauseStore       = (*MemoryStore)(nil)
)
