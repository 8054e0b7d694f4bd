package kryptogo

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// N callers sharing one client keep the N connections they opened: the
// default transport keeps every connection a caller hands back, so a
// caller's next call takes an idle connection instead of dialling. None is
// dialled in most runs; a loaded machine may delay the pool's read loop
// past awaitPooled's few yields, or net/http may dial for a request that an
// idle connection then serves, and each such connection is kept, so the
// dials stay under one per caller, where a pool that keeps two (net/http's
// default) dials hundreds of times for the 3,840 calls. (How few
// connections the callers need is measured by BenchmarkSummaryParallel.)
func TestConcurrentCallersShareConnections(t *testing.T) {
	const callers, calls = 64, 60
	var warming atomic.Bool
	warming.Store(true)
	arrived, everyone := atomic.Int32{}, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// While warming up, each answer waits for every caller to be in
		// flight, so that each holds a connection of its own, however late
		// the goroutines start.
		if warming.Load() {
			if arrived.Add(1) == callers {
				close(everyone)
			}
			select {
			case <-everyone:
			case <-time.After(30 * time.Second):
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"task_id": 123, "progress": 100}`))
	}))
	opened := startCountingConns(t, srv)
	client, err := NewClient(testKey, WithBaseURL(srv.URL))
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)

	run := func(calls int) int64 {
		before := opened.Load()
		concurrently(callers, calls, func() bool {
			_, err := client.Tasks.Summary(t.Context(), 123)
			if err != nil {
				t.Error(err)
			}
			return err == nil
		})
		return opened.Load() - before
	}
	warm := run(1)
	require.GreaterOrEqual(t, warm, int64(callers), "the warm-up connects every caller")
	warming.Store(false)
	assert.Less(t, run(calls), int64(callers), "connections opened by %d callers that already had %d", callers, warm)
}

func TestDefaultTransportIsTunedForConcurrency(t *testing.T) {
	t.Parallel()
	c, err := NewClient("k")
	require.NoError(t, err)
	tr, ok := c.httpClient.Transport.(*http.Transport)
	require.True(t, ok)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 32, "net/http's default of 2 makes bursts reconnect")
	assert.GreaterOrEqual(t, tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	assert.NotNil(t, tr.Proxy, "HTTPS_PROXY is honoured")

	mine := &http.Client{Timeout: time.Minute}
	c, err = NewClient("k", WithHTTPClient(mine))
	require.NoError(t, err)
	assert.Nil(t, mine.Transport, "the caller's client is not modified")
	assert.Nil(t, mine.CheckRedirect)
	assert.Equal(t, time.Minute, c.httpClient.Timeout)
	_, ok = c.httpClient.Transport.(*http.Transport)
	assert.True(t, ok, "a client without a transport gets the tuned one")
}

func TestRedirectToAnotherOriginIsNotFollowed(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		serveFixture(t, "kya_result.json")(w)
	}))
	defer other.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, method := range []string{"GET", "POST", "PUT"} {
			t.Run(fmt.Sprintf("%s %d", method, status), func(t *testing.T) {
				client, mux := setup(t)
				var n atomic.Int32
				mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
					n.Add(1)
					http.Redirect(w, r, other.URL+"/elsewhere?customer_reference=cust-7", status)
				})
				err := client.Do(t.Context(), method, "/thing", map[string]string{"name": "王又曾"}, nil)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, status, apiErr.StatusCode)
				assert.Equal(t, int32(1), n.Load(), "a redirect is an answer, not retried")
				assert.Contains(t, err.Error(), "redirect to "+other.URL+" not followed")
				assert.NotContains(t, err.Error(), "cust-7", "the target's query is not repeated")
				assert.Equal(t, method == "POST", errors.Is(err, ErrMaybeSent),
					"a POST answered with a redirect reached the API, which may have acted on it")
			})
		}
	}
	assert.Zero(t, reached.Load(), "nothing, neither body nor key, reaches another origin")
}

// A POST creates a paid task: a redirect answer to it (even to the API's own
// origin) is not followed. net/http would turn a 302/303 into a GET and the
// SDK would decode that answer as the POST's receipt; a 307/308 would need
// the body again, which the SDK never hands to net/http.
func TestPOSTNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			client, mux := setup(t)
			var posted, followed atomic.Int32
			mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
				posted.Add(1)
				http.Redirect(w, r, basePath+"/task/99/summary", status)
			})
			mux.HandleFunc("/task/99/summary", func(w http.ResponseWriter, r *http.Request) {
				followed.Add(1)
				_, _ = w.Write([]byte(`[{"task_id": 99, "timestamp": 1700000000}]`))
			})
			created, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{{
				SearchSettingID: 2, Target: KYBTarget("Acme Ltd"),
			}})
			require.Error(t, err)
			assert.Nil(t, created)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.StatusCode)
			assert.ErrorIs(t, err, ErrMaybeSent)
			assert.Equal(t, int32(1), posted.Load())
			assert.Zero(t, followed.Load(), "the redirect is not followed")
		})
	}
}

func TestSameOriginRedirectSendsNoReferer(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, basePath+"/tasks2", http.StatusFound)
	})
	mux.HandleFunc("/tasks2", func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Referer"), "the Referer would carry the customer reference")
		assert.Equal(t, testKey, r.Header.Get("GOFACT-API-TOKEN"), "same-origin redirects keep the key")
		serveFixture(t, "tasks_history.json")(w)
	})
	_, err := client.Tasks.History(t.Context(), &HistoryOptions{CustomerReference: "cust-secret-ref"})
	require.NoError(t, err)
}

func TestUserCheckRedirectStillApplies(t *testing.T) {
	t.Parallel()
	client, mux := setup(t, WithHTTPClient(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}), WithMaxRetries(0))
	mux.HandleFunc("/kya/detail/1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/x", http.StatusFound)
	})
	_, err := client.KYA.Get(t.Context(), 1)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusFound, apiErr.StatusCode)
}

// Instrumentation (otelhttp) and mocking libraries (gock) replace
// http.DefaultTransport with their own RoundTripper; NewClient must not
// assume it is an *http.Transport.
func TestNewClientWhenDefaultTransportIsReplaced(t *testing.T) {
	// Not parallel: it replaces http.DefaultTransport.
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	http.DefaultTransport = roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("the wrapped default transport must not be used")
	})

	var c *Client
	require.NotPanics(t, func() {
		var err error
		c, err = NewClient("k")
		require.NoError(t, err)
	})
	tr, ok := c.httpClient.Transport.(*http.Transport)
	require.True(t, ok, "the SDK builds its own tuned transport")
	assert.NotNil(t, tr.Proxy, "HTTPS_PROXY is still honoured")
	assert.NotNil(t, tr.DialContext)
}

// Review of issue 8, finding 9: the send guard counted the hops of
// same-origin redirects as replays and failed a GET after two of them.
func TestSameOriginRedirectChains(t *testing.T) {
	t.Parallel()
	for _, hops := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d hops", hops), func(t *testing.T) {
			c, mux := setup(t)
			var seen atomic.Int32
			mux.HandleFunc("/task/1/summary", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				http.Redirect(w, r, basePath+"/hop/1", http.StatusMovedPermanently)
			})
			mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				n, _ := strconv.Atoi(r.PathValue("n"))
				if n < hops {
					http.Redirect(w, r, fmt.Sprintf("%s/hop/%d", basePath, n+1), http.StatusMovedPermanently)
					return
				}
				serveFixture(t, "task_summary.json")(w)
			})
			got, err := c.Tasks.Summary(t.Context(), 1)
			require.NoError(t, err)
			assert.NotNil(t, got)
			assert.Equal(t, int32(hops+1), seen.Load(), "one request per hop, none replayed")
		})
	}
}
