package bench

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The benchmarks of this module compare every implementation (impl=…) of
// one call on the same recorded body, one after another, so that the load
// of a shared machine hits them alike; scripts/bench.sh runs them in
// alternating rounds and prints the ratios to impl=handwritten.

// taskBodies are the recorded task details of BenchmarkTaskGet.
var taskBodies = []struct{ name, id string }{
	{"small", smallTaskID},   // the 1.2 KB detail of testdata
	{"1MB", bigTaskID},       // the same with a result of about 1 MB of hits
	{"nested", nestedTaskID}, // search_source as an array of arrays, ids and times as strings
}

// BenchmarkTaskGet is one GET /task/{task_id} of each recorded detail.
func BenchmarkTaskGet(b *testing.B) {
	srv := newLoopback(b)
	for _, body := range taskBodies {
		b.Run("body="+body.name, func(b *testing.B) {
			eachImpl(b, srv, implNames, func(ctx context.Context, im impl) error {
				_, err := im.getTask(ctx, body.id)
				return err
			})
		})
	}
}

// BenchmarkTaskCreate is one POST /task of two tasks (a KYC and a KYB
// target).
func BenchmarkTaskCreate(b *testing.B) {
	srv := newLoopback(b)
	eachImpl(b, srv, implNames, func(ctx context.Context, im impl) error {
		_, err := im.createTasks(ctx)
		return err
	})
}

// BenchmarkKYAGet is one GET /kya/detail/{kya_id}.
func BenchmarkKYAGet(b *testing.B) {
	srv := newLoopback(b)
	eachImpl(b, srv, implNames, func(ctx context.Context, im impl) error {
		_, err := im.getKYA(ctx, kyaID)
		return err
	})
}

// eachImpl runs call as one sub-benchmark per implementation, after a
// first call outside the timing (the connection's dial, lazy set-up).
func eachImpl(b *testing.B, srv *loopback, names []string, call func(context.Context, impl) error) {
	for _, name := range names {
		b.Run("impl="+name, func(b *testing.B) {
			im := newImpl(b, name, srv)
			ctx := b.Context()
			if err := call(ctx, im); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if err := call(ctx, im); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// callers is how many goroutines share one client in BenchmarkTaskGet64.
const callers = 64

// BenchmarkTaskGet64 runs GET /task/{task_id} of the 1.2 KB detail from 64
// goroutines sharing one client, a new client (with no connection yet) for
// each run. It reports requests per second and the connections the client
// opened (at most 64 is the goal: one per caller).
func BenchmarkTaskGet64(b *testing.B) {
	srv := newLoopback(b)
	for _, name := range []string{implHand, implSDK, implOapi, implOgen} {
		b.Run("impl="+name, func(b *testing.B) {
			im := newImpl(b, name, srv)
			defer im.closeIdle()
			ctx := b.Context()
			before := srv.conns.Load()
			b.ReportAllocs()
			b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := im.getTask(ctx, smallTaskID); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			b.ReportMetric(float64(srv.conns.Load()-before), "conns")
		})
	}
}

// processCPU returns the CPU time the process has used (user and system), in
// nanoseconds: the loopback server's share is the same for every
// implementation, so the difference per call is the client's.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
