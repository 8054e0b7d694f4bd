package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// A callback key is a string: "d" when processed (kept for the callback
// retention), "h" and the holder's token while claimed (expiring with the
// lease, so Redis's own expiry on the server's clock ends it).
const luaCallbackValues = `
local DONE = 'd'
local function held_by(token) return 'h' .. token end
`

// claimCallbackScript: KEYS[1] the key; ARGV token, lease ms. Returns
// {state, ms left on another holder's lease}.
var claimCallbackScript = redis.NewScript(luaCallbackValues + `
local k = KEYS[1]
local v = redis.call('GET', k)
if v == DONE then return {2, 0} end
if v and v ~= held_by(ARGV[1]) then return {3, redis.call('PTTL', k)} end
redis.call('SET', k, held_by(ARGV[1]), 'PX', ARGV[2])
return {1, 0}
`)

// completeCallbackScript: KEYS[1] the key; ARGV retention ms. A key
// already done keeps its first retention.
var completeCallbackScript = redis.NewScript(luaCallbackValues + `
if redis.call('GET', KEYS[1]) ~= DONE then
  redis.call('SET', KEYS[1], DONE, 'PX', ARGV[1])
end
return 1
`)

// releaseCallbackScript: KEYS[1] the key; ARGV token.
var releaseCallbackScript = redis.NewScript(luaCallbackValues + `
if redis.call('GET', KEYS[1]) == held_by(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 1
`)

// ClaimCallback implements kryptogo.CallbackStore: one script, the lease
// a key expiry on the server's clock. An empty token or a lease that is
// not positive is refused with an error.
func (s *Store) ClaimCallback(ctx context.Context, key, token string, lease time.Duration) (kryptogo.CallbackClaim, error) {
	if token == "" {
		return kryptogo.CallbackClaim{}, wrap("ClaimCallback", errEmptyToken)
	}
	if lease <= 0 {
		return kryptogo.CallbackClaim{}, wrap("ClaimCallback", fmt.Errorf("the lease %v is not positive", lease))
	}
	v, err := claimCallbackScript.Run(ctx, s.rdb, []string{s.redisKey(callbackKind, key)}, token, millis(lease)).Int64Slice()
	if err != nil {
		return kryptogo.CallbackClaim{}, wrap("ClaimCallback", err)
	}
	if len(v) != 2 {
		return kryptogo.CallbackClaim{}, wrap("ClaimCallback", fmt.Errorf("unexpected answer of %d values", len(v)))
	}
	switch state := kryptogo.CallbackClaimState(v[0]); state {
	case kryptogo.CallbackClaimed, kryptogo.CallbackDone:
		return kryptogo.CallbackClaim{State: state}, nil
	case kryptogo.CallbackBusy:
		// PTTL is at least 1 for a live key; the floor guards a Retry-After
		// of zero.
		return kryptogo.CallbackClaim{State: state, RetryAfter: max(time.Duration(v[1])*time.Millisecond, time.Millisecond)}, nil
	default:
		return kryptogo.CallbackClaim{}, wrap("ClaimCallback", fmt.Errorf("unexpected state %d", v[0]))
	}
}

// CompleteCallback implements kryptogo.CallbackStore.
func (s *Store) CompleteCallback(ctx context.Context, key, _ string) error {
	err := completeCallbackScript.Run(ctx, s.rdb, []string{s.redisKey(callbackKind, key)}, millis(s.callbackRetention)).Err()
	if err != nil {
		return wrap("CompleteCallback", err)
	}
	return nil
}

// ReleaseCallback implements kryptogo.CallbackStore.
func (s *Store) ReleaseCallback(ctx context.Context, key, token string) error {
	if token == "" {
		return nil
	}
	err := releaseCallbackScript.Run(ctx, s.rdb, []string{s.redisKey(callbackKind, key)}, token).Err()
	if err != nil {
		return wrap("ReleaseCallback", err)
	}
	return nil
}
