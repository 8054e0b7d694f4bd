package otelkryptogo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/internal/everyendpoint"
	"github.com/kyabc/kryptogo-go/otelkryptogo"
)

// rawPathWithID matches a path of the API with an id in it.
var rawPathWithID = regexp.MustCompile(`/(task|idv|kya/detail)/[0-9]`)

// personalCalls calls every endpoint with personal data, with failures
// injected, and sends the instrumented callback handler callbacks about
// that customer: delivered, refused and forged.
func personalCalls(t *testing.T, r *rig) {
	t.Helper()
	id, err := everyendpoint.Call(testCtx(t), r.srv, r.client)
	require.NoError(t, err)
	_, err = r.client.Tasks.Get(testCtx(t), id+1000)
	require.ErrorIs(t, err, kryptogo.ErrNotFound)

	signer, err := kryptogo.NewCallbackSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	handler := otelkryptogo.InstrumentHandler(&kryptogo.CallbackHandler{Signer: signer, Confirm: r.client,
		OnTask: func(context.Context, *kryptogo.TaskSummary) error { return nil }}, r.opts...)
	body := fmt.Sprintf(`{"task_id": %d, "customer_reference": %q, "target": {"name": %q, "birthday": %q}}`,
		id, everyendpoint.Customer, everyendpoint.Name, everyendpoint.Birthday)
	for _, ref := range []string{everyendpoint.Customer, everyendpoint.Name} {
		req, err := kryptogo.NewSignedCallbackRequest(signer, "https://example.com/cb?who="+url.QueryEscape(everyendpoint.Name), ref, []byte(body))
		require.NoError(t, err)
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func TestNothingRecordedHoldsTheKeyAPersonalValueOrAPathWithAnID(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	personalCalls(t, r)

	var recorded []string // every text the SDK handed OpenTelemetry
	for _, s := range r.spans.Ended() {
		recorded = append(recorded, "span "+s.Name(), "status "+s.Status().Description)
		recorded = append(recorded, kvTexts(s.Attributes())...)
		for _, e := range s.Events() {
			recorded = append(recorded, "event "+e.Name)
			recorded = append(recorded, kvTexts(e.Attributes)...)
		}
	}
	rm := r.collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			recorded = append(recorded, "metric "+m.Name)
			for _, set := range dataPointAttributes(m.Data) {
				recorded = append(recorded, kvTexts(set.ToSlice())...)
			}
		}
	}
	require.Greater(t, len(r.spans.Ended()), 20, "every endpoint was traced")
	all := strings.Join(recorded, "\n")
	assert.Contains(t, all, "span IDV.Create", "the recording holds the calls")
	assert.Contains(t, all, "kryptogo.callback.outcome=forbidden", "and the callbacks")
	for _, secret := range []string{r.srv.APIKey, everyendpoint.Name, "Roe", everyendpoint.Birthday, "19850131", everyendpoint.IDNumber, everyendpoint.Customer} {
		assert.NotContains(t, all, secret)
	}
	assert.NotRegexp(t, rawPathWithID, all, "no raw path with an id")
	assert.NotContains(t, all, "?", "no query")
}

func kvTexts(kvs []attribute.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out
}

// dataPointAttributes returns the attribute sets of every data point.
func dataPointAttributes(data metricdata.Aggregation) []attribute.Set {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	default:
		panic(fmt.Sprintf("a metric of type %T: scan it too", data))
	}
	return sets
}
