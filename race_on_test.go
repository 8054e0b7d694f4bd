//go:build race

package kryptogo

// raceEnabled: sync.Pool drops items at random under the race detector,
// so counts of allocations are not exact.
const raceEnabled = true
