package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

func TestWebhookDemoAgainstFake(t *testing.T) {
	t.Setenv("KRYPTOGO_API_KEY", "")
	t.Setenv("KRYPTOGO_CALLBACK_SECRET", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, nil))
	assert.Equal(t, []string{
		"customer customer-42: task 1 completed, risk Low, awaiting review",
		"customer customer-42: task 1 accepted",
		"2 callbacks received and processed once each",
	}, strings.Split(strings.TrimSpace(out.String()), "\n")[1:])
}

func TestWebhookHandlerIsIdempotentAndRefusesForgeries(t *testing.T) {
	fake := kryptogotest.NewTestServer(t)
	client := fake.Client()
	fake.SetTargetRisk("Sanctioned Co", kryptogotest.TaskOutcome{PotentialRisk: 100, SanctionMatched: true})
	_, err := client.Tasks.Create(t.Context(), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Sanctioned Co"), CustomerReference: "customer-7"},
		{SearchSettingID: 1, Target: kryptogo.KYBTarget("Clean Co"), CustomerReference: "customer-8"},
	})
	require.NoError(t, err)
	_, err = client.Tasks.Accept(t.Context(), 2, "clean")
	require.NoError(t, err)
	signer, err := newSigner(false)
	require.NoError(t, err)
	store := NewStore()
	var out bytes.Buffer
	h := handler(signer, client, kryptogo.NewMemoryStore(), store, nil, &out)
	send := func(signer *kryptogo.CallbackSigner, customer string, body map[string]any) int {
		raw, _ := json.Marshal(body)
		req, err := kryptogo.NewSignedCallbackRequest(signer, "https://hooks.example.com/cb", customer, raw)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}

	for i := 0; i < 3; i++ { // the same delivery, retried; the body understates the risk
		assert.Equal(t, http.StatusNoContent, send(signer, "customer-7", map[string]any{"task_id": 1, "customer_reference": "customer-7", "progress": 0}))
	}
	assert.Equal(t, "customer customer-7: task 1 completed, risk Very high, awaiting review\n", out.String(), "processed once, with the API's state")

	// customer-7's URL leaked: customer-8's accepted task posted to it is refused.
	assert.Equal(t, http.StatusForbidden, send(signer, "customer-7", map[string]any{"task_id": 2, "customer_reference": "customer-7", "progress": 100}))
	assert.Equal(t, map[kryptogo.ID]string{1: "completed, risk Very high, awaiting review"}, store.Decisions("customer-7"))
	assert.Empty(t, store.Decisions("customer-8"))

	assert.Equal(t, http.StatusUnauthorized, send(nil, "customer-7", map[string]any{"task_id": 1}), "an unsigned URL")
	assert.Equal(t, "customer customer-7: task 1 completed, risk Very high, awaiting review\n", out.String(), "nothing else was processed")
}

func TestWebhookRealModeNeedsASecret(t *testing.T) {
	t.Setenv("KRYPTOGO_CALLBACK_SECRET", "")
	_, err := newSigner(true)
	assert.ErrorContains(t, err, "set KRYPTOGO_CALLBACK_SECRET")
	t.Setenv("KRYPTOGO_CALLBACK_SECRET", "zz")
	_, err = newSigner(true)
	assert.ErrorContains(t, err, "not hex")
	t.Setenv("KRYPTOGO_CALLBACK_SECRET", strings.Repeat("ab", 32))
	_, err = newSigner(true)
	assert.NoError(t, err)
}
