package redisstore

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// DefaultPrefix is the namespace of a Store's keys when WithPrefix is not
// given.
const DefaultPrefix = "kryptogo:"

// Store keeps idempotency keys, processed callbacks and the 429 pause in
// Redis, shared by every process that uses the same server and prefix: a
// kryptogo.IdempotencyStore, a kryptogo.CallbackStore and a
// kryptogo.PauseStore. It also makes rate limiters shared by those
// processes (Limiter). It is safe for concurrent use.
type Store struct {
	rdb               redis.UniversalClient
	prefix            string
	keyRetention      time.Duration
	callbackRetention time.Duration
	logger            *slog.Logger
	// limiterRetry is how long a limiter that lost Redis paces locally
	// before it tries Redis again.
	limiterRetry time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the namespace of the Store's keys (DefaultPrefix when p
// is empty). Stores that must not see each other's records, such as the
// stores of two API keys on one server, need prefixes of which neither
// starts with the other.
func WithPrefix(p string) Option {
	return func(s *Store) {
		if p != "" {
			s.prefix = p
		}
	}
}

// WithKeyRetention sets how long the Store keeps an idempotency key after
// its last change; kryptogo.DefaultKeyRetention when d is not positive.
func WithKeyRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.keyRetention = d
		}
	}
}

// WithCallbackRetention sets how long the Store remembers a processed
// callback; kryptogo.DefaultCallbackRetention when d is not positive.
func WithCallbackRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.callbackRetention = d
		}
	}
}

// WithLogger sets where the Store's limiters report losing and regaining
// Redis (slog.Default() when l is nil).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.logger = l
		}
	}
}

// New returns a Store on rdb: a *redis.Client (one server, or Sentinel
// through redis.NewFailoverClient) or a *redis.ClusterClient.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		rdb:               rdb,
		prefix:            DefaultPrefix,
		keyRetention:      kryptogo.DefaultKeyRetention,
		callbackRetention: kryptogo.DefaultCallbackRetention,
		logger:            slog.Default(),
		limiterRetry:      time.Second,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// Every record is one Redis key, and every method touches that key alone
// (one command, or one script given that key in KEYS): so a Store works on
// a Redis Cluster, whatever slot each key falls in.
const (
	idempotencyKind = "idem:"
	callbackKind    = "cb:"
	pauseKind       = "pause:"
	limiterKind     = "rate:"
)

func (s *Store) redisKey(kind, key string) string { return s.prefix + kind + key }

// millis returns d in whole milliseconds, rounded up: a lease or a
// retention is never shorter than asked.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// wrap names the method in an error from Redis; keys and tokens stay out
// of it (an idempotency key may carry a customer's reference).
func wrap(method string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", method, err)
}

// Lua helpers every script starts with. Redis converts a Lua number to a
// string with 14 significant digits, too few for milliseconds since 1970:
// numbers are written with string.format. Scripts that call TIME and then
// write ask for effects replication, the default since Redis 5.
const luaPrelude = `
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
`

// The Store is each of the stores.
var (
	_ kryptogo.IdempotencyStore = (*Store)(nil)
	_ kryptogo.CallbackStore    = (*Store)(nil)
	_ kryptogo.PauseStore       = (*Store)(nil)
)
