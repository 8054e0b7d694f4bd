package otelkryptogo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
// the uninstrumented time. BenchmarkCall runs the two alternately (with
// -count, plain, otel, plain, otel…); BenchmarkCallOverhead alternates
// them within one benchmark, in rounds, and reports both and their ratio.

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
const overheadRound = 50

func BenchmarkCallOverhead(b *testing.B) {
	plain, instrumented := benchClients(b)
	var spent [2]time.Duration
	var calls [2]int
	clients := [2]*kryptogo.Client{plain, instrumented}
	round := 0
	for b.Loop() {
		// Each round alternates which goes first, so that neither always
		// meets a warmer connection or a quieter machine.
		for k := range 2 {
			which := (k + round) % 2
			start := time.Now()
			for range overheadRound {
				getTask(b, clients[which])
			}
			spent[which] += time.Since(start)
			calls[which] += overheadRound
		}
		round++
	}
	plainNs := float64(spent[0].Nanoseconds()) / float64(calls[0])
	otelNs := float64(spent[1].Nanoseconds()) / float64(calls[1])
	b.ReportMetric(plainNs, "plain-ns/call")
	b.ReportMetric(otelNs, "otel-ns/call")
	b.ReportMetric(otelNs/plainNs, "otel/plain")
}
