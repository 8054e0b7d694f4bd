//go:build !linux

package otelkryptogo_test

import "time"

// processCPU is not measured here: BenchmarkCallOverhead reports wall
// time only.
func processCPU() (time.Duration, bool) { return 0, false }
