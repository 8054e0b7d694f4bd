package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// pauseKeep is how long a pause's record outlives its end, so that
// PausedUntil can still tell when the last pause ended.
const pauseKeep = time.Minute

// extendPauseScript: KEYS[1] the scope's key; ARGV the wanted end in ms,
// pauseKeep in ms. Returns the end in force.
var extendPauseScript = redis.NewScript(luaPrelude + `
local k, want = KEYS[1], tonumber(ARGV[1])
local cur = redis.call('GET', k)
if cur and tonumber(cur) >= want then return tonumber(cur) end
redis.call('SET', k, ARGV[1], 'PX', int(math.max(want - now_ms(), 0) + tonumber(ARGV[2])))
return want
`)

// ExtendPause implements kryptogo.PauseStore: one script, the end kept
// with millisecond precision, rounded up so the pause never ends before
// until.
func (s *Store) ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error) {
	ms := until.UnixMilli()
	if time.UnixMilli(ms).Before(until) {
		ms++
	}
	ms, err := extendPauseScript.Run(ctx, s.rdb, []string{s.redisKey(pauseKind, scope)}, ms, millis(pauseKeep)).Int64()
	if err != nil {
		return time.Time{}, wrap("ExtendPause", err)
	}
	return time.UnixMilli(ms), nil
}

// PausedUntil implements kryptogo.PauseStore: one GET.
func (s *Store) PausedUntil(ctx context.Context, scope string) (time.Time, error) {
	v, err := s.rdb.Get(ctx, s.redisKey(pauseKind, scope)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap("PausedUntil", err)
	}
	until, err := parseMillis(v)
	if err != nil {
		return time.Time{}, wrap("PausedUntil", err)
	}
	return until, nil
}
