package otelkryptogo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/otelkryptogo"
)

// The instrumented call against the same call without instrumentation:
// Tasks.Get of the API reference's task detail (1.2 KB) from a loopback
// server, the OpenTelemetry SDK recording every span (batched to an
// exporter that drops them, as in production; or handed to it at once, the
// simple span processor) and every metric (read by nobody: a
// ManualReader). Goal: at most 1.15 times the uninstrumented time.
//
// BenchmarkCall runs the variants one after the other, as sub-benchmarks
// client=plain, client=otel (batch span processor) and client=otel-simple;
// run it in alternating processes and compare with benchstat:
//
//	go test -c -o /tmp/otel.test .
//	for i in $(seq 10); do /tmp/otel.test -test.run '^$' -test.bench '^BenchmarkCall$' -test.benchmem; done > call.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /client call.txt
//
// BenchmarkCallOverhead alternates the first two in rounds within one
// benchmark and reports the median ratio of adjacent rounds.

// discardExporter exports spans nowhere.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchClients returns a client against a server answering GET
// /task/{id} with the API reference's sample, the same client instrumented
// with the batch span processor, and with the simple one.
func benchClients(b *testing.B) (plain, instrumented, simple *kryptogo.Client) {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("..", "testdata", "task_detail.json"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "bench-request")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	newClient := func(opts ...kryptogo.Option) *kryptogo.Client {
		c, err := kryptogo.NewClient("bench-key", append([]kryptogo.Option{kryptogo.WithBaseURL(srv.URL)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.CloseIdleConnections)
		return c
	}
	instrument := func(processor sdktrace.TracerProviderOption) kryptogo.Option {
		tp := sdktrace.NewTracerProvider(processor)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		})
		return otelkryptogo.Instrument(otelkryptogo.WithTracerProvider(tp), otelkryptogo.WithMeterProvider(mp))
	}
	return newClient(), newClient(instrument(sdktrace.WithBatcher(discardExporter{}))),
		newClient(instrument(sdktrace.WithSyncer(discardExporter{})))
}

func getTask(b *testing.B, c *kryptogo.Client) {
	if _, err := c.Tasks.Get(context.Background(), 12345); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCall(b *testing.B) {
	plain, instrumented, simple := benchClients(b)
	for _, bc := range []struct {
		name   string
		client *kryptogo.Client
	}{{"client=plain", plain}, {"client=otel", instrumented}, {"client=otel-simple", simple}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				getTask(b, bc.client)
			}
		})
	}
}

// overheadRound is how many calls of each kind a round of
// BenchmarkCallOverhead makes, one kind after the other.
const overheadRound = 20

// BenchmarkCallOverhead alternates rounds of plain and instrumented calls
// (which goes first alternates too) and reports the median of the rounds'
// times per call and of the ratios of adjacent rounds: a burst of load on
// a shared machine then skews one ratio, not the result. On Linux it
// reports the process's CPU time per call of each kind too (every
// goroutine's: the server's, the batch span processor's, the collector's),
// summed over all rounds: the cost of a call, which the load of other
// processes barely moves.
func BenchmarkCallOverhead(b *testing.B) {
	plain, instrumented, _ := benchClients(b)
	clients := [2]*kryptogo.Client{plain, instrumented}
	var perCall [2][]float64
	var ratios []float64
	var cpu [2]time.Duration
	calls, cpuOK := 0, true
	for round := 0; b.Loop(); round++ {
		var took [2]float64
		for k := range 2 {
			which := (k + round) % 2
			cpuStart, ok1 := processCPU()
			start := time.Now()
			for range overheadRound {
				getTask(b, clients[which])
			}
			took[which] = float64(time.Since(start).Nanoseconds()) / overheadRound
			cpuEnd, ok2 := processCPU()
			cpu[which] += cpuEnd - cpuStart
			cpuOK = cpuOK && ok1 && ok2
			perCall[which] = append(perCall[which], took[which])
		}
		ratios = append(ratios, took[1]/took[0])
		calls += overheadRound
	}
	b.ReportMetric(median(perCall[0]), "plain-ns/call")
	b.ReportMetric(median(perCall[1]), "otel-ns/call")
	b.ReportMetric(median(ratios), "otel/plain")
	if cpuOK && calls > 0 && cpu[0] > 0 {
		b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(calls), "plain-cpu-ns/call")
		b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(calls), "otel-cpu-ns/call")
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "otel/plain-cpu")
	}
}

func median(xs []float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	if n := len(sorted); n%2 == 1 {
		return sorted[n/2]
	} else if n > 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return 0
}

// BenchmarkHooks is the Observer's own cost per call of one attempt,
// without the call: two spans and four measurements, with the SDK's batch
// span processor (as in production) and with its synchronous one.
func BenchmarkHooks(b *testing.B) {
	for _, tc := range []struct {
		name string
		proc func() sdktrace.TracerProviderOption
	}{
		{"batcher", func() sdktrace.TracerProviderOption { return sdktrace.WithBatcher(discardExporter{}) }},
		{"syncer", func() sdktrace.TracerProviderOption { return sdktrace.WithSyncer(discardExporter{}) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(tc.proc())
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				_ = mp.Shutdown(context.Background())
			})
			o := otelkryptogo.NewObserver(otelkryptogo.WithTracerProvider(tp), otelkryptogo.WithMeterProvider(mp))
			op := kryptogo.Operation{Name: "Tasks.Get", Route: "/task/{task_id}", Method: "GET"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				cctx := o.CallStart(ctx, kryptogo.CallStartInfo{Operation: op, ServerAddress: "127.0.0.1", ServerPort: 8080})
				actx := o.AttemptStart(cctx, kryptogo.AttemptStartInfo{Operation: op, Attempt: 1})
				o.AttemptDone(actx, kryptogo.AttemptDoneInfo{Operation: op, Attempt: 1, StatusCode: 200, RequestID: "req-1", Duration: time.Millisecond})
				o.CallDone(cctx, kryptogo.CallDoneInfo{Operation: op, Attempts: 1, StatusCode: 200, RequestID: "req-1", Duration: time.Millisecond})
			}
		})
	}
}
