package kryptogo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sdkTransportTrusting returns a client on the SDK's own transport that
// trusts srv's certificate.
func sdkTransportTrusting(t *testing.T, srv *httptest.Server, opts ...Option) *Client {
	t.Helper()
	client, err := NewClient(testKey, append([]Option{WithBaseURL(srv.URL), WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	client.httpClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// usersClient returns a client on the caller's own *http.Client (as with
// otelhttp): the SDK must keep net/http from replaying a POST there too.
func usersClient(t *testing.T, srv *httptest.Server, opts ...Option) *Client {
	t.Helper()
	client, err := NewClient(testKey, append([]Option{WithBaseURL(srv.URL), WithHTTPClient(srv.Client()),
		WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	return client
}

// Issue 8, item 1: with GetBody on a POST, net/http's HTTP/2 transport
// re-sent a request whose stream was reset after the server read it.
func TestPOSTIsNeverReplayedByHTTP2(t *testing.T) {
	for _, transport := range []struct {
		name string
		new  func(*testing.T, *httptest.Server, ...Option) *Client
	}{{"sdk transport", sdkTransportTrusting}, {"user's http.Client", usersClient}} {
		for _, retries := range []int{0, DefaultMaxRetries} {
			t.Run(transport.name+"/retries="+string(rune('0'+retries)), func(t *testing.T) {
				var seen atomic.Int32
				srv := newRawH2Server(t, h2ResetProtocol, &seen)
				client := transport.new(t, srv, WithMaxRetries(retries))
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_, err := client.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
				require.Error(t, err)
				assert.Equal(t, int32(1), seen.Load(), "a paid POST reached the server more than once")
				assert.ErrorIs(t, err, ErrMaybeSent)
				assert.Contains(t, err.Error(), "check before sending it again")
			})
		}
	}
}

func TestPOSTHasNoGetBody(t *testing.T) {
	c := offlineClient(t)
	for method, want := range map[string]bool{"POST": false, "PUT": true, "GET": true} {
		req, err := c.newRequest(context.Background(), method, c.base, bytesBody([]byte(`{}`)))
		require.NoError(t, err)
		assert.Equal(t, want, req.GetBody != nil, method)
	}
}
