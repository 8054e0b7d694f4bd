package kryptogo

import (
	"context"
	"time"
)

// SetSleepHook replaces how c waits, for the tests of package kryptogo_test
// (which use kryptogotest, so they cannot live in this package).
func SetSleepHook(c *Client, sleep func(ctx context.Context, d time.Duration) error) { c.sleep = sleep }

// SetNowHook replaces c's clock, for the tests of package kryptogo_test.
func SetNowHook(c *Client, now func() time.Time) { c.now = now }

// Stress reports whether go test ran with -stress (main_test.go), for the
// tests of package kryptogo_test.
func Stress() bool { return *stress }

// SetKeyLease sets how long c's creates hold an idempotency key between
// renewals (every third of it), for the tests of package kryptogo_test.
func SetKeyLease(c *Client, d time.Duration) { c.keyLease = d }

// SetMemoryStoreClock replaces s's clock, for the tests of package
// kryptogo_test: a lease runs out when the test says.
func SetMemoryStoreClock(s *MemoryStore, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// ObsLog records the hooks of an Observer, for the tests of package
// kryptogo_test (observe_test.go).
type ObsLog = obsLog
