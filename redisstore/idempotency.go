package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// An idempotency key is a hash with these fields:
//
//	f  fingerprint (always present: it marks the record as existing)
//	h  holder's token, l its lease end in ms (both absent when no holder)
//	d  "1" when in doubt
//	s  SentAt in ms (absent when never marked in doubt)
//	x  "1" when done, r the result
//
// Its expiry is the retention after the last change, and never before the
// end of a live lease. Scripts that return a record return the fields in
// recordFields order after a status.
var recordFields = []string{"f", "h", "l", "d", "s", "x", "r"}

const luaRecord = `
local function record(k, status)
  local r = redis.call('HMGET', k, 'f', 'h', 'l', 'd', 's', 'x', 'r')
  table.insert(r, 1, status)
  return r
end
local function keep(k, now, lease_end, retention)
  redis.call('PEXPIRE', k, int(math.max(retention, lease_end - now)))
end
`

// claimScript: KEYS[1] the key; ARGV token, fingerprint, lease ms,
// retention ms. Returns 1 and the record when the caller holds the key.
var claimScript = redis.NewScript(luaPrelude + luaRecord + `
local k, token = KEYS[1], ARGV[1]
local now = now_ms()
local cur = redis.call('HMGET', k, 'f', 'h', 'l', 'x')
if cur[1] then
  if cur[4] == '1' then return record(k, 0) end
  if cur[2] and cur[2] ~= token and now < tonumber(cur[3]) then return record(k, 0) end
else
  redis.call('HSET', k, 'f', ARGV[2])
end
local lease_end = now + tonumber(ARGV[3])
redis.call('HSET', k, 'h', token, 'l', int(lease_end))
keep(k, now, lease_end, tonumber(ARGV[4]))
return record(k, 1)
`)

// markInDoubtScript: KEYS[1] the key; ARGV token, sentAt ms, retention ms.
// Returns 0 when token does not hold the key.
var markInDoubtScript = redis.NewScript(luaPrelude + luaRecord + `
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'h', 'l', 'x', 'd', 's')
if cur[1] ~= ARGV[1] or cur[3] == '1' then return 0 end
local sent = tonumber(ARGV[2])
if cur[4] ~= '1' or not cur[5] or sent < tonumber(cur[5]) then
  redis.call('HSET', k, 's', ARGV[2])
end
redis.call('HSET', k, 'd', '1')
keep(k, now_ms(), tonumber(cur[2]), tonumber(ARGV[3]))
return 1
`)

// completeScript: KEYS[1] the key; ARGV result, retention ms. The first
// outcome wins; returns the record.
var completeScript = redis.NewScript(luaPrelude + luaRecord + `
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'f', 'x')
if cur[2] == '1' then return record(k, 1) end
if not cur[1] then redis.call('HSET', k, 'f', '') end
redis.call('HDEL', k, 'h', 'l', 'd')
redis.call('HSET', k, 'x', '1', 'r', ARGV[1])
redis.call('PEXPIRE', k, ARGV[2])
return record(k, 1)
`)

// releaseScript: KEYS[1] the key; ARGV token, "1" when in doubt, retention
// ms. A token that does not hold the key changes nothing.
var releaseScript = redis.NewScript(luaPrelude + `
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'h', 'x')
if cur[1] ~= ARGV[1] or cur[2] == '1' then return 0 end
if ARGV[2] ~= '1' then
  redis.call('DEL', k)
  return 1
end
redis.call('HDEL', k, 'h', 'l')
redis.call('HSET', k, 'd', '1')
redis.call('PEXPIRE', k, ARGV[3])
return 1
`)

// forgetScript: KEYS[1] the key. Deletes it unless a live lease holds it
// (its holder may be sending); returns 0 then.
var forgetScript = redis.NewScript(luaPrelude + `
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'h', 'l', 'x')
if cur[1] and cur[2] and cur[3] ~= '1' and now_ms() < tonumber(cur[2]) then return 0 end
redis.call('DEL', k)
return 1
`)

var errEmptyToken = errors.New("the token is empty")

// Claim implements kryptogo.IdempotencyStore: one script, the lease on
// the server's clock. An empty token (it would read as no holder) or a
// lease that is not positive is refused with an error.
func (s *Store) Claim(ctx context.Context, key, token, fingerprint string, lease time.Duration) (kryptogo.KeyRecord, bool, error) {
	if token == "" {
		return kryptogo.KeyRecord{}, false, wrap("Claim", errEmptyToken)
	}
	if lease <= 0 {
		return kryptogo.KeyRecord{}, false, wrap("Claim", fmt.Errorf("the lease %v is not positive", lease))
	}
	v, err := claimScript.Run(ctx, s.rdb, []string{s.redisKey(idempotencyKind, key)},
		token, fingerprint, millis(lease), millis(s.keyRetention)).Slice()
	if err != nil {
		return kryptogo.KeyRecord{}, false, wrap("Claim", err)
	}
	rec, ok, err := parseRecord(key, v)
	if err != nil {
		return kryptogo.KeyRecord{}, false, wrap("Claim", err)
	}
	return rec, ok, nil
}

// MarkInDoubt implements kryptogo.IdempotencyStore.
func (s *Store) MarkInDoubt(ctx context.Context, key, token string, sentAt time.Time) error {
	if token == "" {
		return kryptogo.ErrNotHolder
	}
	held, err := markInDoubtScript.Run(ctx, s.rdb, []string{s.redisKey(idempotencyKind, key)},
		token, sentAt.UnixMilli(), millis(s.keyRetention)).Int()
	if err != nil {
		return wrap("MarkInDoubt", err)
	}
	if held == 0 {
		return kryptogo.ErrNotHolder
	}
	return nil
}

// Complete implements kryptogo.IdempotencyStore.
func (s *Store) Complete(ctx context.Context, key, _ string, result []byte) (kryptogo.KeyRecord, error) {
	v, err := completeScript.Run(ctx, s.rdb, []string{s.redisKey(idempotencyKind, key)},
		result, millis(s.keyRetention)).Slice()
	if err != nil {
		return kryptogo.KeyRecord{}, wrap("Complete", err)
	}
	rec, _, err := parseRecord(key, v)
	if err != nil {
		return kryptogo.KeyRecord{}, wrap("Complete", err)
	}
	return rec, nil
}

// Release implements kryptogo.IdempotencyStore.
func (s *Store) Release(ctx context.Context, key, token string, inDoubt bool) error {
	if token == "" {
		return nil
	}
	doubt := "0"
	if inDoubt {
		doubt = "1"
	}
	err := releaseScript.Run(ctx, s.rdb, []string{s.redisKey(idempotencyKind, key)},
		token, doubt, millis(s.keyRetention)).Err()
	if err != nil {
		return wrap("Release", err)
	}
	return nil
}

// Get implements kryptogo.IdempotencyStore: one HMGET.
func (s *Store) Get(ctx context.Context, key string) (kryptogo.KeyRecord, bool, error) {
	v, err := s.rdb.HMGet(ctx, s.redisKey(idempotencyKind, key), recordFields...).Result()
	if err != nil {
		return kryptogo.KeyRecord{}, false, wrap("Get", err)
	}
	if v[0] == nil {
		return kryptogo.KeyRecord{}, false, nil
	}
	rec, _, err := parseRecord(key, append([]any{int64(1)}, v...))
	if err != nil {
		return kryptogo.KeyRecord{}, false, wrap("Get", err)
	}
	return rec, true, nil
}

// Forget implements kryptogo.IdempotencyStore: one script, the lease on
// the server's clock; kryptogo.ErrNotHolder under a live lease.
func (s *Store) Forget(ctx context.Context, key string) error {
	deleted, err := forgetScript.Run(ctx, s.rdb, []string{s.redisKey(idempotencyKind, key)}).Int()
	if err != nil {
		return wrap("Forget", err)
	}
	if deleted == 0 {
		return kryptogo.ErrNotHolder
	}
	return nil
}

// parseRecord reads a script's answer: a status, then the fields in
// recordFields order (nil where absent).
func parseRecord(key string, v []any) (kryptogo.KeyRecord, bool, error) {
	if len(v) != 1+len(recordFields) {
		return kryptogo.KeyRecord{}, false, fmt.Errorf("unexpected answer of %d values", len(v))
	}
	status, ok := v[0].(int64)
	if !ok {
		return kryptogo.KeyRecord{}, false, fmt.Errorf("unexpected status %T", v[0])
	}
	f := make([]string, len(recordFields))
	for i, x := range v[1:] {
		switch x := x.(type) {
		case nil:
		case string:
			f[i] = x
		default:
			return kryptogo.KeyRecord{}, false, fmt.Errorf("unexpected field %s of type %T", recordFields[i], x)
		}
	}
	rec := kryptogo.KeyRecord{Key: key, Fingerprint: f[0], Holder: f[1], InDoubt: f[3] == "1", Done: f[5] == "1"}
	var err error
	if rec.LeaseUntil, err = parseMillis(f[2]); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	if rec.SentAt, err = parseMillis(f[4]); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	if rec.Done {
		rec.Result = []byte(f[6])
	}
	return rec, status == 1, nil
}

// parseMillis reads a time stored in milliseconds since 1970; "" is the
// zero time.
func parseMillis(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("a stored time %q is not a number of milliseconds", s)
	}
	return time.UnixMilli(ms), nil
}
