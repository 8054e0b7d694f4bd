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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, nil))
	assert.Equal(t, []string{
		"customer 42: task 1 completed, risk Low, awaiting review",
		"customer 42: task 1 accepted",
		"2 callbacks received and processed once each",
	}, strings.Split(strings.TrimSpace(out.String()), "\n")[1:])
}

func TestWebhookHandlerIsIdempotentAndRefusesForgeries(t *testing.T) {
	fake := kryptogotest.NewTestServer(t)
	client := fake.Client()
	_, err := client.Tasks.Create(context.Background(), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Co")}})
	require.NoError(t, err)
	signer, err := newSigner(false)
	require.NoError(t, err)
	store := &Store{processed: map[string]bool{}, decisions: map[string]string{}}
	var out bytes.Buffer
	h := handler(signer, client, store, nil, &out)

	body, _ := json.Marshal(map[string]any{"task_id": 1, "progress": 0})
	for i := 0; i < 3; i++ { // the same delivery, retried
		req, err := kryptogo.NewSignedCallbackRequest(signer, "https://hooks.example.com/cb?customer=7", body)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusNoContent, rec.Code)
	}
	assert.Equal(t, "customer 7: task 1 completed, risk Low, awaiting review\n", out.String(), "processed once, with the API's state")

	forged, err := kryptogo.NewSignedCallbackRequest(nil, "https://hooks.example.com/cb?customer=7", body)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, forged)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
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
