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
// the OpenTelemetry SDK records every span (batched to an exporter that
// drops them) and every metric (read by nobody). Goal: at most 1.15 times
// the uninstrumented time. BenchmarkCall runs the two one after the other;
// BenchmarkCallOverhead alternates them in rounds within one benchmark.

// discardExporter exports spans nowhere.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// benchClients returns a client against a server answering GET
// /task/{id} with the API reference's sample, and the same client
// instrumented.
func benchClients(b *testing.B) (plain, instrumented *kryptogo.Client) {
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
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	newClient := func(opts ...kryptogo.Option) *kryptogo.Client {
		c, err := kryptogo.NewClient("bench-key", append([]kryptogo.Option{kryptogo.WithBaseURL(srv.URL)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.CloseIdleConnections)
		return c
	}
	return newClient(), newClient(otelkryptogo.Instrument(otelkryptogo.WithTracerProvider(tp), otelkryptogo.WithMeterProvider(mp)))
}

func getTask(b *testing.B, c *kryptogo.Client) {
	if _, err := c.Tasks.Get(context.Background(), 12345); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCall(b *testing.B) {
	plain, instrumented := benchClients(b)
	for _, bc := range []struct {
		name   string
		client *kryptogo.Client
	}{{"plain", plain}, {"otel", instrumented}} {
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
// a shared machine then skews one ratio, not the result.
func BenchmarkCallOverhead(b *testing.B) {
	plain, instrumented := benchClients(b)
	clients := [2]*kryptogo.Client{plain, instrumented}
	var perCall [2][]float64
	var ratios []float64
	for round := 0; b.Loop(); round++ {
		var took [2]float64
		for k := range 2 {
			which := (k + round) % 2
			start := time.Now()
			for range overheadRound {
				getTask(b, clients[which])
			}
			took[which] = float64(time.Since(start).Nanoseconds()) / overheadRound
			perCall[which] = append(perCall[which], took[which])
		}
		ratios = append(ratios, took[1]/took[0])
	}
	b.ReportMetric(median(perCall[0]), "plain-ns/call")
	b.ReportMetric(median(perCall[1]), "otel-ns/call")
	b.ReportMetric(median(ratios), "otel/plain")
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
