package kryptogo

// Attack on issue 15's echo masking: its cost. net/http quotes a malformed
// header line whole in its error (it accepts up to 10 MiB of headers), and
// ResponseInfo masks every header value of an answer. The SDK masked all
// of it, node by node of the error's chain, each text in a dozen decoded
// layers: one answer of 9 MiB cost about 2 s of CPU and 270-690 MiB of
// allocation, and the error kept a 9 MiB text. What a malicious server
// sends must cost the SDK about what it costs net/http itself.
//
// These tests compare allocation (bytes, counted by the runtime), not
// time: they are not parallel, so that nothing else allocates meanwhile.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// allocatedBy returns the bytes the process allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bombServer answers every request with answer, built once.
func bombServer(t *testing.T, answer []byte) string {
	t.Helper()
	return rawServer(t, func(c net.Conn) { _, _ = c.Write(answer) })
}

// TestMalformedAnswerCostsWhatNetHTTPCosts: a malformed header line of
// 8 MiB, echoing the key at its start and full of escapes, costs the SDK
// at most a few MiB more than it costs a plain net/http client, and the
// error's text stays short and masked.
func TestMalformedAnswerCostsWhatNetHTTPCosts(t *testing.T) {
	line := testKey + " " + chainName + " " + strings.Repeat(`&amp;amp;#x5c;\\u0026%2525`, 8<<20/26)
	base := bombServer(t, []byte("HTTP/1.1 200 OK\r\n"+line+"\r\n\r\n"))
	plain := &http.Client{Transport: defaultTransport()}
	t.Cleanup(plain.CloseIdleConnections)
	byNetHTTP := allocatedBy(func() {
		resp, err := plain.Get(base + "/task/1/summary")
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err)
	})

	c, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
	require.NoError(t, err)
	var sdkErr error
	bySDK := allocatedBy(func() { _, sdkErr = c.Tasks.Create(t.Context(), chainTarget()) })
	require.Error(t, sdkErr)

	t.Logf("net/http %d MiB, SDK %d MiB, error text %d bytes: %.300s", byNetHTTP>>20, bySDK>>20, len(sdkErr.Error()), sdkErr)
	assert.LessOrEqual(t, bySDK, byNetHTTP+8<<20, "the SDK's masking costs a few MiB at most")
	assert.LessOrEqual(t, len(sdkErr.Error()), 16<<10, "an error's text is bounded")
	for _, node := range chainNodes(sdkErr) {
		assert.LessOrEqual(t, len(node.Error()), 16<<10, "%T", node)
	}
	assert.Contains(t, sdkErr.Error(), "malformed", "the text still says what went wrong")
	assertAbsent(t, chainExposure(sdkErr), testKey, chainName)
}

// TestResponseInfoHeadersCostBounded: an answer with 8 MiB of headers
// costs the SDK about as much with WithResponseInfo as without; the
// short headers are kept (masked), the ones past the bound are marked.
func TestResponseInfoHeadersCostBounded(t *testing.T) {
	var answer strings.Builder
	answer.WriteString("HTTP/1.1 400 Bad Request\r\nX-Request-Id: req-" + testKey + "\r\nRetry-After: 7\r\n")
	for i := range 2000 {
		fmt.Fprintf(&answer, "X-Pad-%d: %s %s\r\n", i, chainName, strings.Repeat("&amp;", 4<<10/5))
	}
	answer.WriteString("Connection: close\r\nContent-Length: 2\r\n\r\n{}")
	base := bombServer(t, []byte(answer.String()))

	c, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
	require.NoError(t, err)
	call := func(opts ...Option) {
		_, err := c.Tasks.Create(t.Context(), chainTarget(), opts...)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
	}
	var info ResponseInfo
	without := allocatedBy(func() { call() })
	with := allocatedBy(func() { call(WithResponseInfo(&info)) })

	t.Logf("without ResponseInfo %d MiB, with %d MiB", without>>20, with>>20)
	assert.LessOrEqual(t, with, without+4<<20, "masking the headers costs a few MiB at most")
	assert.Equal(t, "7", info.Header.Get("Retry-After"), "short headers are kept")
	assert.Equal(t, "req-"+redact.Mask, info.RequestID)
	var all strings.Builder
	withheldPads := 0
	for name, values := range info.Header {
		all.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
		if strings.HasPrefix(name, "X-Pad-") && strings.Contains(values[0], "withheld") {
			withheldPads++
		}
	}
	assert.GreaterOrEqual(t, len(info.Header), 2000+2, "every header is named")
	assert.Positive(t, withheldPads, "the headers past the bound say so")
	assertAbsent(t, all.String(), testKey, chainName)
}

// TestAPIErrorReadsTheHeadOfALongDeclaredBody: an error page longer than
// the error window, with a Content-Length (a load balancer's static
// maintenance page), is read up to the window, as one of unknown length
// is: its message and the first 64 KiB of its body are kept. It was not
// read at all.
func TestAPIErrorReadsTheHeadOfALongDeclaredBody(t *testing.T) {
	t.Parallel()
	page := "<html><head><title>Maintenance until 12:00 UTC</title></head><body>" +
		strings.Repeat("<p>We are upgrading.</p>", 100<<10/24) + "</body></html>"
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprint("declared=", declared), func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", fmt.Sprint(len(page)))
				}
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, page)
			})
			_, err := c.Tasks.Summary(t.Context(), 1)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "HTML page: Maintenance until 12:00 UTC", apiErr.Message)
			assert.Len(t, apiErr.Body, maxErrorBody)
			assert.Equal(t, page[:maxErrorBody], string(apiErr.Body))
		})
	}
}
