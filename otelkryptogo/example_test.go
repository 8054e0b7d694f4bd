package otelkryptogo_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/kyabc/kryptogo-go/otelkryptogo"
)

// A client instrumented with OpenTelemetry, against the fake API, printing
// each span as JSON as it ends: a span per call named after the method,
// and a child span per request sent. The fake answers the summary's first
// request 503: its span has two children and a kryptogo.retry event.
func ExampleInstrument() {
	srv := kryptogotest.NewServer()
	defer srv.Close()

	exporter, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithoutTimestamps())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	// In production: kryptogo.NewClient(key, otelkryptogo.Instrument()),
	// with the global providers your service sets up.
	client := srv.Client(otelkryptogo.Instrument(otelkryptogo.WithTracerProvider(tp)))
	ctx := context.Background()
	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme Ltd."), CustomerReference: "customer-42"},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.FailNext(1, http.StatusServiceUnavailable)
	summary, err := client.Tasks.Summary(ctx, created[0].TaskID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("task", summary.TaskID, "progress", summary.Progress)
}
