package kryptogo

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newRequest builds the request http.NewRequestWithContext would, with the
// SDK's headers, and one allocation fewer.
func TestNewRequestIsNewRequestWithContexts(t *testing.T) {
	c := offlineClient(t)
	ctx := context.WithValue(context.Background(), guardKey{}, "attempt")
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		target := c.endpoint("/task/1", nil)
		var body *requestBody
		if method == http.MethodPost {
			body = bytesBody([]byte(`{}`))
		}
		got, err := c.newRequest(ctx, "ua/1", method, target, body)
		require.NoError(t, err)
		want, err := http.NewRequestWithContext(ctx, method, target.String(), nil)
		require.NoError(t, err)
		assert.Same(t, target, got.URL)
		assert.Equal(t, want.URL.String(), got.URL.String())
		assert.Equal(t, want.Host, got.Host)
		assert.Equal(t, want.Method, got.Method)
		assert.Equal(t, [3]any{want.Proto, want.ProtoMajor, want.ProtoMinor}, [3]any{got.Proto, got.ProtoMajor, got.ProtoMinor})
		assert.Same(t, ctx, got.Context())
		assert.Equal(t, "ua/1", got.Header.Get("User-Agent"))
		assert.Equal(t, "application/json", got.Header.Get("Accept"))
		assert.Equal(t, testKey, got.Header.Get(c.creds.header))
		if body != nil {
			assert.Equal(t, int64(2), got.ContentLength)
			assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
		}
	}
	_, err := c.newRequest(nil, "ua/1", http.MethodGet, c.endpoint("/task/1", nil), nil) //lint:ignore SA1012 a nil context is refused, not a panic
	assert.Error(t, err)
	target := c.endpoint("/task/1", nil)
	allocs := testing.AllocsPerRun(100, func() { _, _ = c.newRequest(ctx, "ua/1", http.MethodGet, target, nil) })
	assert.LessOrEqual(t, allocs, float64(4))
}
