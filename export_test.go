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

// ObsLog records the hooks of an Observer, for the tests of package
// kryptogo_test (observe_test.go).
type ObsLog = obsLog
