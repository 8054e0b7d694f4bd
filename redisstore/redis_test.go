package redisstore

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// forTargets runs test against a store on each deployment.
func forTargets(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			test(t, tg.dial(t))
		})
	}
}

// exerciseEveryScript calls each method once on fresh keys, and fails on
// the first error or wrong answer.
func exerciseEveryScript(t *testing.T, s *Store, rdb redis.UniversalClient, round string) {
	t.Helper()
	ctx, key := t.Context(), "key-"+round
	rec, ok, err := s.Claim(ctx, key, "a", "fp", time.Minute)
	require.NoError(t, err, "Claim")
	require.True(t, ok, "Claim")
	assert.Equal(t, "a", rec.Holder)
	require.NoError(t, s.MarkInDoubt(ctx, key, "a", time.Now()), "MarkInDoubt")
	require.NoError(t, s.Release(ctx, key, "a", true), "Release")
	_, ok, err = s.Claim(ctx, key, "b", "fp", time.Minute)
	require.NoError(t, err, "Claim")
	require.True(t, ok, "Claim after Release")
	rec, err = s.Complete(ctx, key, "b", []byte("done"))
	require.NoError(t, err, "Complete")
	assert.True(t, rec.Done)

	got, err := s.ClaimCallback(ctx, key, "a", time.Minute)
	require.NoError(t, err, "ClaimCallback")
	assert.Equal(t, kryptogo.CallbackClaimed, got.State)
	require.NoError(t, s.ReleaseCallback(ctx, key, "a"), "ReleaseCallback")
	require.NoError(t, s.CompleteCallback(ctx, key, "a"), "CompleteCallback")

	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	end, err := s.ExtendPause(ctx, key, until)
	require.NoError(t, err, "ExtendPause")
	assert.True(t, end.Equal(until), "ExtendPause = %v, want %v", end, until)

	l := s.Limiter(key, 1, time.Hour)
	require.NoError(t, l.Wait(ctx), "Limiter.Wait")
	assertWaitGivesTheSlotBack(t, rdb, l.(*limiter))
	assert.False(t, l.(*limiter).down, "the limiter fell back to local pacing")
}

// TestScriptsSurviveScriptFlush checks that every script is loaded again
// when the server lost its script cache (SCRIPT FLUSH, a restart, a
// failover to a replica that never saw the script).
func TestScriptsSurviveScriptFlush(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := newTestStore(t, rdb)
		exerciseEveryScript(t, s, rdb, "before")
		require.NoError(t, rdb.ScriptFlush(t.Context()).Err())
		exists, err := claimScript.Exists(t.Context(), rdb).Result()
		require.NoError(t, err)
		require.Equal(t, []bool{false}, exists, "SCRIPT FLUSH left the claim script loaded: the test proves nothing")
		exerciseEveryScript(t, s, rdb, "after")
	})
}

// TestPrefixIsolation checks that stores with different prefixes share
// nothing, and that a store writes under its prefix only.
func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		a, b := newTestStore(t, rdb), newTestStore(t, rdb)
		for _, s := range []*Store{a, b} {
			_, ok, err := s.Claim(ctx, "k", "token", "fp", time.Minute)
			require.NoError(t, err)
			assert.True(t, ok, "Claim of one key under two prefixes: the second store saw the first's record")
			got, err := s.ClaimCallback(ctx, "k", "token", time.Minute)
			require.NoError(t, err)
			assert.Equal(t, kryptogo.CallbackClaimed, got.State)
		}
		until := time.Now().Add(time.Hour)
		_, err := a.ExtendPause(ctx, "client", until)
		require.NoError(t, err)
		paused, err := b.PausedUntil(ctx, "client")
		require.NoError(t, err)
		assert.True(t, paused.IsZero(), "another prefix's pause holds: %v", paused)
		require.NoError(t, a.Limiter("api", 1, time.Hour).Wait(ctx))
		require.NoError(t, b.Limiter("api", 1, time.Hour).Wait(ctx), "another prefix's limiter held the first slot")

		for _, s := range []*Store{a, b} {
			keys := keysUnder(t, ctx, rdb, s.prefix)
			assert.ElementsMatch(t, []string{s.prefix + "idem:k", s.prefix + "cb:k", s.prefix + "rate:api"},
				without(keys, s.prefix+"pause:client"), "keys under %s", s.prefix)
		}
		assert.Equal(t, DefaultPrefix, New(rdb).prefix)
		assert.Equal(t, DefaultPrefix, New(rdb, WithPrefix("")).prefix)
	})
}

func without(keys []string, drop string) []string {
	var out []string
	for _, k := range keys {
		if k != drop {
			out = append(out, k)
		}
	}
	return out
}

// TestEveryKeyExpires checks that no key the store writes lives forever,
// whatever state it is left in.
func TestEveryKeyExpires(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		s := newTestStore(t, rdb)
		_, _, err := s.Claim(ctx, "held", "a", "fp", time.Minute)
		require.NoError(t, err)
		_, _, err = s.Claim(ctx, "doubt", "a", "fp", time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.MarkInDoubt(ctx, "doubt", "a", time.Now()))
		require.NoError(t, s.Release(ctx, "doubt", "a", true))
		_, err = s.Complete(ctx, "done", "a", []byte("1"))
		require.NoError(t, err)
		_, err = s.ClaimCallback(ctx, "claimed", "a", time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.CompleteCallback(ctx, "processed", "a"))
		_, err = s.ExtendPause(ctx, "client", time.Now().Add(time.Second))
		require.NoError(t, err)
		require.NoError(t, s.Limiter("api", 10, time.Second).Wait(ctx))

		keys := keysUnder(t, ctx, rdb, s.prefix)
		require.Len(t, keys, 7)
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			require.NoError(t, err)
			assert.Positive(t, ttl, "%s has no expiry", k)
			assert.LessOrEqual(t, ttl, kryptogo.DefaultCallbackRetention, "%s expires later than any retention", k)
		}
	})
}

// TestHeldKeyOutlivesItsRetention checks that a key's record stays while
// its lease is live, even when the retention is shorter than the lease.
func TestHeldKeyOutlivesItsRetention(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		s := newTestStore(t, rdb, WithKeyRetention(time.Second))
		_, _, err := s.Claim(t.Context(), "k", "a", "fp", time.Hour)
		require.NoError(t, err)
		ttl, err := rdb.PTTL(t.Context(), s.prefix+"idem:k").Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 59*time.Minute, "a key held for an hour expires before its lease ends")
	})
}

// TestBinarySafe checks that keys, tokens, fingerprints and results of any
// bytes round-trip, hash-tag braces included.
func TestBinarySafe(t *testing.T) {
	t.Parallel()
	forTargets(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		s := newTestStore(t, rdb)
		odd := "\x00\xff{tag}\r\n é ' \" \\ %d"
		result := append(bytes.Repeat([]byte{0, 0xff, '\n'}, 1<<18), "✓"...) // 768 KiB and a rune
		key, token, fp := "key"+odd, "token"+odd, "fp"+odd

		rec, ok, err := s.Claim(ctx, key, token, fp, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, kryptogo.KeyRecord{Key: key, Fingerprint: fp, Holder: token, LeaseUntil: rec.LeaseUntil}, rec)
		_, ok, err = s.Claim(ctx, key, token+"x", fp, time.Minute)
		require.NoError(t, err)
		assert.False(t, ok, "a token that only starts like the holder's took the key")
		require.ErrorIs(t, s.MarkInDoubt(ctx, key, strings.TrimSuffix(token, "d"), time.Now()), kryptogo.ErrNotHolder)
		rec, err = s.Complete(ctx, key, token, result)
		require.NoError(t, err)
		assert.Equal(t, result, rec.Result)
		got, ok, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, result, got.Result)
		assert.Equal(t, fp, got.Fingerprint)
		_, ok, err = s.Get(ctx, "key")
		require.NoError(t, err)
		assert.False(t, ok, "the key cut at its first odd byte exists")

		claim, err := s.ClaimCallback(ctx, key, token, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, kryptogo.CallbackClaimed, claim.State)
		claim, err = s.ClaimCallback(ctx, key, token+"\x00", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, kryptogo.CallbackBusy, claim.State)
		require.NoError(t, s.ReleaseCallback(ctx, key, token))
		claim, err = s.ClaimCallback(ctx, key, "d", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, kryptogo.CallbackClaimed, claim.State, "a released key is not free")
		claim, err = s.ClaimCallback(ctx, key, "x", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, kryptogo.CallbackBusy, claim.State, "the token \"d\" made the key look processed")
	})
}

// TestBadInput checks the refusals that come before any command.
func TestBadInput(t *testing.T) {
	t.Parallel()
	// No server is needed: the checks come first. A client of a port
	// nothing listens on makes any command fail differently.
	s := New(closedClient(t))
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"Claim empty token", errOf3(s.Claim(ctx, "k", "", "fp", time.Minute)), "redisstore: Claim: the token is empty"},
		{"Claim zero lease", errOf3(s.Claim(ctx, "k", "a", "fp", 0)), "redisstore: Claim: the lease 0s is not positive"},
		{"ClaimCallback empty token", errOf2(s.ClaimCallback(ctx, "k", "", time.Minute)), "redisstore: ClaimCallback: the token is empty"},
		{"ClaimCallback negative lease", errOf2(s.ClaimCallback(ctx, "k", "a", -time.Second)), "redisstore: ClaimCallback: the lease -1s is not positive"},
		{"Limiter empty name", s.Limiter("", 1, time.Second).Wait(ctx), "redisstore: Limiter: the name is empty"},
		{"Limiter zero limit", s.Limiter("api", 0, time.Second).Wait(ctx), `redisstore: Limiter "api": 0 per 1s is not a rate (both must be positive)`},
		{"Limiter zero per", s.Limiter("api", 5, 0).Wait(ctx), `redisstore: Limiter "api": 5 per 0s is not a rate (both must be positive)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.EqualError(t, tc.err, tc.want)
		})
	}
	assert.ErrorIs(t, s.MarkInDoubt(ctx, "k", "", time.Now()), kryptogo.ErrNotHolder)
	assert.NoError(t, s.Release(ctx, "k", "", true), "Release with an empty token changes nothing")
	assert.NoError(t, s.ReleaseCallback(ctx, "k", ""), "ReleaseCallback with an empty token changes nothing")
}

// errOf2 and errOf3 return the error of a method's results.
func errOf2[A any](_ A, err error) error         { return err }
func errOf3[A, B any](_ A, _ B, err error) error { return err }
