package kryptogo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// BenchmarkScreen screens a batch against the fake with 50 ms of latency
// per answer, with KYA.Screen at concurrency 16 and, as the baseline in the
// same run, one Create after another. speedup is the baseline's time over
// Screen's (goal for 96 addresses: 12 or more; 16 is the ceiling):
//
//	go test -bench Screen -run '^$' .
func BenchmarkScreen(b *testing.B) {
	srv := kryptogotest.NewTestServer(b, kryptogotest.WithLatency(50*time.Millisecond))
	client := srv.Client()
	for _, n := range []int{96, 200} {
		reqs := make([]kryptogo.CreateKYARequest, n)
		for i := range reqs {
			reqs[i].Address = fmt.Sprintf("0x%040x", i+1)
		}
		b.Run(fmt.Sprintf("addresses=%d", n), func(b *testing.B) {
			var screen, oneByOne time.Duration
			runs := 0
			for b.Loop() {
				screen += timed(func() { screenAll(b, client, reqs) })
				oneByOne += timed(func() { createOneByOne(b, client, reqs) })
				runs++
			}
			b.ReportMetric(screen.Seconds()/float64(runs), "s/screen_c16")
			b.ReportMetric(oneByOne.Seconds()/float64(runs), "s/one_by_one")
			b.ReportMetric(float64(oneByOne)/float64(screen), "speedup")
		})
	}
}

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func screenAll(b *testing.B, client *kryptogo.Client, reqs []kryptogo.CreateKYARequest) {
	for _, r := range client.KYA.Screen(b.Context(), reqs, &kryptogo.ScreenOptions{Concurrency: 16}) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

func createOneByOne(b *testing.B, client *kryptogo.Client, reqs []kryptogo.CreateKYARequest) {
	for i := range reqs {
		if _, err := client.KYA.Create(b.Context(), &reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStorm sends 1,000 GETs from 40 goroutines into an API that
// answers every request 503, and reports the requests sent per call: with
// the default retry budget (goal: 1.25 or less) and, as the baseline, with
// the budget disabled (1 + WithMaxRetries' 2 = 3):
//
//	go test -bench Storm -run '^$' .
func BenchmarkStorm(b *testing.B) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	b.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		budget int
	}{{"budget=default", kryptogo.DefaultRetryBudget}, {"budget=off", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			requests.Store(0)
			calls := 0
			for b.Loop() {
				client, err := kryptogo.NewClient("k", kryptogo.WithBaseURL(srv.URL), kryptogo.WithRetryBudget(tc.budget),
					kryptogo.WithRetryBackoff(time.Millisecond, 2*time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				stormCalls(b.Context(), client, 1000, 40)
				client.CloseIdleConnections()
				calls += 1000
			}
			b.ReportMetric(float64(requests.Load())/float64(calls), "requests/call")
		})
	}
}

// stormCalls makes calls GETs from goroutines goroutines; all fail.
func stormCalls(ctx context.Context, client *kryptogo.Client, calls, goroutines int) {
	var next atomic.Int32
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int32(calls) {
				_ = client.Do(ctx, http.MethodGet, "/thing", nil, nil)
			}
		}()
	}
	wg.Wait()
}
