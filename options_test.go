package kryptogo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Per-call options (issue 12, item 3): an option given to one call
// overrides the client's for that call only.

const summaryPath = "/task/7/summary"

// countRequests answers every request to path with status and a fixture
// body for a 200, and counts them.
func countRequests(t *testing.T, mux *http.ServeMux, path string, status int) *atomic.Int32 {
	var n atomic.Int32
	body := fixture(t, "task_summary.json")
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n.Load()))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = w.Write(body)
		}
	})
	return &n
}

func TestPerCallMaxRetries(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(3))
	n := countRequests(t, mux, summaryPath, http.StatusServiceUnavailable)

	_, err := c.Tasks.Summary(t.Context(), 7, WithMaxRetries(0))
	require.ErrorIs(t, err, ErrServerError)
	assert.Equal(t, int32(1), n.Load(), "WithMaxRetries(0) on the call: one attempt")

	n.Store(0)
	_, err = c.Tasks.Summary(t.Context(), 7)
	require.ErrorIs(t, err, ErrServerError)
	assert.Equal(t, int32(4), n.Load(), "the next call without options keeps the client's 3 retries")
}

func TestWithResponseInfo(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(0))
	countRequests(t, mux, summaryPath, http.StatusOK)
	countRequests(t, mux, "/task/8/summary", http.StatusNotFound)
	mux.HandleFunc("/task/9/summary", dropAfterRequest)

	t.Run("success", func(t *testing.T) {
		var info ResponseInfo
		_, err := c.Tasks.Summary(t.Context(), 7, WithResponseInfo(&info))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, info.StatusCode)
		assert.Equal(t, "req-1", info.RequestID)
		assert.Equal(t, "req-1", info.Header.Get("X-Request-Id"))
		assert.Equal(t, "application/json", info.Header.Get("Content-Type"))
	})
	t.Run("error answer", func(t *testing.T) {
		var info ResponseInfo
		_, err := c.Tasks.Summary(t.Context(), 8, WithResponseInfo(&info))
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusNotFound, info.StatusCode)
		assert.Equal(t, "req-1", info.RequestID)
		assert.Equal(t, apiErr.RequestID, info.RequestID, "the same id as the error's")
	})
	t.Run("no answer leaves it zero, even when reused", func(t *testing.T) {
		info := ResponseInfo{StatusCode: 200, RequestID: "stale", Header: http.Header{"X": {"y"}}}
		_, err := c.Tasks.Summary(t.Context(), 9, WithResponseInfo(&info))
		require.Error(t, err)
		assert.Equal(t, ResponseInfo{}, info)
	})
	t.Run("validation error leaves it untouched and sends nothing", func(t *testing.T) {
		info := ResponseInfo{StatusCode: 299}
		_, err := c.Tasks.Summary(t.Context(), 0, WithResponseInfo(&info))
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Equal(t, 299, info.StatusCode)
	})
}

func TestWithResponseInfoReportsTheLastAttempt(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(2))
	var n atomic.Int32
	mux.HandleFunc(summaryPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n.Add(1)))
		if n.Load() < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		serveFixture(t, "task_summary.json")(w)
	})
	var info ResponseInfo
	_, err := c.Tasks.Summary(t.Context(), 7, WithResponseInfo(&info))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, info.StatusCode)
	assert.Equal(t, "req-3", info.RequestID)
}

func TestResponseInfoMasksEchoedSecrets(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo-Token", r.Header.Get("GOFACT-API-TOKEN"))
		w.Header().Set("X-Request-Id", "id-"+r.Header.Get("GOFACT-API-TOKEN"))
		w.Header().Set("X-Name", "Ozymandias Kingsley")
		w.Header().Set("X-"+r.Header.Get("GOFACT-API-TOKEN"), "1")
		_, _ = w.Write([]byte(`[{"task_id": 1, "timestamp": 1700000000}]`))
	})
	var info ResponseInfo
	_, err := c.Tasks.Create(t.Context(), []CreateTaskRequest{{
		SearchSettingID: 1, Target: KYCTarget("Ozymandias Kingsley", "1970-01-01", "TWN"),
	}}, WithResponseInfo(&info))
	require.NoError(t, err)
	require.NotEmpty(t, info.Header.Get("X-Echo-Token"), "the header is kept, masked")
	assert.Len(t, info.Header, 6, "a header named after the key is dropped")
	dump := fmt.Sprint(info.Header) + info.RequestID
	assert.NotContains(t, dump, testKey)
	assert.NotContains(t, dump, "Ozymandias")
	assert.NotContains(t, strings.ToLower(dump), strings.ToLower(testKey))
}

func TestPerCallTimeout(t *testing.T) {
	t.Parallel()
	t.Run("shorter than the client's", func(t *testing.T) {
		c, mux := setup(t, WithMaxRetries(0))
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		mux.HandleFunc(summaryPath, func(_ http.ResponseWriter, r *http.Request) {
			select { // never answers before the attempt ends
			case <-r.Context().Done():
			case <-release:
			}
		})
		_, err := c.Tasks.Summary(t.Context(), 7, WithTimeout(20*time.Millisecond))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "attempt timed out after 20ms (WithTimeout)")
	})
	t.Run("no bound over a client's that always times out", func(t *testing.T) {
		c, mux := setup(t, WithMaxRetries(0), WithTimeout(time.Nanosecond))
		countRequests(t, mux, summaryPath, http.StatusOK)
		_, err := c.Tasks.Summary(t.Context(), 7)
		require.Error(t, err, "the client's 1ns bound ends every attempt")
		_, err = c.Tasks.Summary(t.Context(), 7, WithTimeout(0))
		require.NoError(t, err)
	})
}

func TestPerCallRetryBackoff(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(1)) // client backoff: 1-4 ms
	slept := recordWaits(c, time.Now())
	countRequests(t, mux, summaryPath, http.StatusServiceUnavailable)

	_, err := c.Tasks.Summary(t.Context(), 7, WithRetryBackoff(7*time.Second, 7*time.Second))
	require.ErrorIs(t, err, ErrServerError)
	assert.Equal(t, []time.Duration{7 * time.Second}, slept.list())

	slept.reset()
	_, err = c.Tasks.Summary(t.Context(), 7)
	require.ErrorIs(t, err, ErrServerError)
	require.Len(t, slept.list(), 1)
	assert.LessOrEqual(t, slept.list()[0], 4*time.Millisecond, "the client's backoff again")
}

func TestPerCallLogger(t *testing.T) {
	t.Parallel()
	var clientLog, callLog bytes.Buffer
	c, mux := setup(t, WithLogger(debugLogger(&clientLog)))
	countRequests(t, mux, summaryPath, http.StatusOK)

	_, err := c.Tasks.Summary(t.Context(), 7, WithLogger(debugLogger(&callLog)))
	require.NoError(t, err)
	assert.Contains(t, callLog.String(), "kryptogo request")
	assert.Contains(t, callLog.String(), summaryPath)
	assert.Empty(t, clientLog.String(), "the call's logger replaces the client's")

	_, err = c.Tasks.Summary(t.Context(), 7, WithLogger(nil))
	require.NoError(t, err)
	assert.Empty(t, clientLog.String(), "WithLogger(nil) silences the call")

	callLog.Reset()
	_, err = c.Tasks.Summary(t.Context(), 7)
	require.NoError(t, err)
	assert.Contains(t, clientLog.String(), "kryptogo request")
	assert.Empty(t, callLog.String(), "the call's logger is not kept")
}

func TestPerCallUserAgentLimiterAndCap(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var gotUA atomic.Value
	mux.HandleFunc(summaryPath, func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.Header.Get("User-Agent"))
		serveFixture(t, "task_summary.json")(w)
	})

	_, err := c.Tasks.Summary(t.Context(), 7, WithUserAgent("batch-job/2"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(gotUA.Load().(string), "batch-job/2 kryptogo-go/"), gotUA.Load())

	limiter := &countingLimiter{}
	_, err = c.Tasks.Summary(t.Context(), 7, WithRateLimiter(limiter))
	require.NoError(t, err)
	assert.Equal(t, int32(1), limiter.n.Load())
	assert.True(t, strings.HasPrefix(gotUA.Load().(string), "kryptogo-go/"), "the client's User-Agent again")

	_, err = c.Tasks.Summary(t.Context(), 7, WithMaxResponseBytes(8))
	require.ErrorIs(t, err, ErrInvalidResponse)
	assert.Contains(t, err.Error(), "body exceeds 8 bytes")
}

// clientOnlyOptions are refused when given to one call.
var clientOnlyOptions = map[string]Option{
	"WithBaseURL":      WithBaseURL("https://elsewhere.example"),
	"WithHTTPClient":   WithHTTPClient(&http.Client{}),
	"WithAPIKeyHeader": WithAPIKeyHeader("X-Key"),
	"WithInsecureHTTP": WithInsecureHTTP(),
	"WithRetryBudget":  WithRetryBudget(10),
}

// method is one public method, called with the given options.
type method struct {
	name string
	call func(opts ...Option) error
}

// everyMethod lists every method that sends requests, called on c.
func everyMethod(t *testing.T, c *Client) []method {
	ctx := t.Context()
	task := []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Acme Ltd"), CustomerReference: "cust-1"}}
	jpeg := ImageFromBytes(testJPEG(t, 640, 400))
	kya := &CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a"}
	return []method{
		{"Do", func(o ...Option) error { return c.Do(ctx, http.MethodGet, "/tasks", nil, nil, o...) }},
		{"KYA.Create", func(o ...Option) error { _, err := c.KYA.Create(ctx, kya, o...); return err }},
		{"KYA.Get", func(o ...Option) error { _, err := c.KYA.Get(ctx, 1, o...); return err }},
		{"KYA.Screen", func(o ...Option) error { return c.KYA.Screen(ctx, []CreateKYARequest{*kya}, nil, o...)[0].Err }},
		{"Tasks.Create", func(o ...Option) error { _, err := c.Tasks.Create(ctx, task, o...); return err }},
		{"Tasks.CreateOne", func(o ...Option) error { _, err := c.Tasks.CreateOne(ctx, task[0], o...); return err }},
		{"Tasks.CreateOnce", func(o ...Option) error { _, err := c.Tasks.CreateOnce(ctx, task, o...); return err }},
		{"Tasks.Summary", func(o ...Option) error { _, err := c.Tasks.Summary(ctx, 1, o...); return err }},
		{"Tasks.Get", func(o ...Option) error { _, err := c.Tasks.Get(ctx, 1, o...); return err }},
		{"Tasks.Accept", func(o ...Option) error { _, err := c.Tasks.Accept(ctx, 1, "ok", o...); return err }},
		{"Tasks.Reject", func(o ...Option) error { _, err := c.Tasks.Reject(ctx, 1, "no", o...); return err }},
		{"Tasks.SetAccepted", func(o ...Option) error {
			_, err := c.Tasks.SetAccepted(ctx, 1, &SetAcceptedRequest{Comment: "ok"}, o...)
			return err
		}},
		{"Tasks.SetMetadata", func(o ...Option) error { return c.Tasks.SetMetadata(ctx, 1, []Metadata{{Key: "k", Value: "v"}}, o...) }},
		{"Tasks.History", func(o ...Option) error { _, err := c.Tasks.History(ctx, nil, o...); return err }},
		{"Tasks.All", func(o ...Option) error {
			for _, err := range c.Tasks.All(ctx, nil, o...) {
				return err
			}
			return nil
		}},
		{"Tasks.Wait", func(o ...Option) error { _, err := c.Tasks.Wait(ctx, 1, nil, o...); return err }},
		{"IDV.Create", func(o ...Option) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, IDImage: jpeg, FaceImage: jpeg}, o...)
			return err
		}},
		{"IDV.Get", func(o ...Option) error { _, err := c.IDV.Get(ctx, 1, o...); return err }},
		{"IDV.Wait", func(o ...Option) error { _, err := c.IDV.Wait(ctx, 1, nil, o...); return err }},
		{"IDV.InitWeb", func(o ...Option) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "TWN", CustomerReference: "cust-1"}, o...)
			return err
		}},
		{"IDV.InitMobile", func(o ...Option) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", CustomerReference: "cust-1"}, o...)
			return err
		}},
	}
}

func TestClientOnlyOptionsAreRefusedPerCall(t *testing.T) {
	t.Parallel()
	c := offlineClient(t) // fails the test if any request is sent
	for name, opt := range clientOnlyOptions {
		t.Run(name, func(t *testing.T) {
			for _, m := range everyMethod(t, c) {
				assert.ErrorContains(t, m.call(opt), "kryptogo: "+name+" is a client option; it cannot be given to one call", m.name)
			}
		})
	}
}

func TestWithResponseInfoIsPerCallOnly(t *testing.T) {
	t.Parallel()
	_, err := NewClient(testKey, WithResponseInfo(&ResponseInfo{}))
	require.ErrorContains(t, err, "WithResponseInfo is a per-call option")

	c := offlineClient(t)
	_, err = c.Tasks.Summary(t.Context(), 1, WithResponseInfo(nil))
	require.ErrorContains(t, err, "WithResponseInfo: nil *ResponseInfo")

	res := c.KYA.Screen(t.Context(), []CreateKYARequest{{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a"}}, nil, WithResponseInfo(&ResponseInfo{}))
	require.ErrorContains(t, res[0].Err, "WithResponseInfo cannot be given to a batch")
}

func TestInvalidPerCallOptionSendsNothing(t *testing.T) {
	t.Parallel()
	c := offlineClient(t)
	for _, m := range everyMethod(t, c) {
		assert.ErrorContains(t, m.call(WithMaxRetries(-1)), "WithMaxRetries: negative count", m.name)
	}
}

// TestPerCallOptionsReachEveryMethod gives every method WithMaxRetries(0)
// and WithResponseInfo against an API that answers 503 to everything: each
// request is sent once (the client would retry GETs 3 times) and the info
// holds the 503.
func TestPerCallOptionsReachEveryMethod(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(3))
	var n atomic.Int32
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", n.Add(1)))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Wait's polls and CreateOnce's lookups stop at their first pause.
	c.sleep = func(context.Context, time.Duration) error { return context.Canceled }
	requests := map[string]int32{"Tasks.CreateOnce": 2} // the POST, then one lookup
	for _, m := range everyMethod(t, c) {
		t.Run(m.name, func(t *testing.T) {
			n.Store(0)
			var info ResponseInfo
			opts := []Option{WithMaxRetries(0), WithResponseInfo(&info)}
			if m.name == "KYA.Screen" {
				opts = opts[:1] // Screen refuses WithResponseInfo
			}
			require.Error(t, m.call(opts...))
			want := max(requests[m.name], 1)
			assert.Equal(t, want, n.Load(), "requests sent")
			if m.name != "KYA.Screen" {
				assert.Equal(t, ResponseInfo{StatusCode: 503, RequestID: fmt.Sprintf("req-%d", want)},
					ResponseInfo{StatusCode: info.StatusCode, RequestID: info.RequestID})
			}
		})
	}
}

// TestConcurrentCallsWithDifferentOptions runs calls with different
// per-call options on one client at once (run with -race): each sees its
// own retries, User-Agent and ResponseInfo.
func TestConcurrentCallsWithDifferentOptions(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(2))
	var mu sync.Mutex
	sent := map[string]int{}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		product, _, _ := strings.Cut(r.Header.Get("User-Agent"), " ")
		mu.Lock()
		sent[product]++
		mu.Unlock()
		w.Header().Set("X-Request-Id", product)
		if strings.HasPrefix(product, "fail") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		serveFixture(t, "task_summary.json")(w)
	})
	const callers = 16
	var wg sync.WaitGroup
	infos := make([]ResponseInfo, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			product := fmt.Sprintf("ok%d/1", i)
			opts := []Option{WithUserAgent(product), WithResponseInfo(&infos[i])}
			if i%2 == 1 {
				product = fmt.Sprintf("fail%d/1", i)
				opts = []Option{WithUserAgent(product), WithResponseInfo(&infos[i]), WithMaxRetries(i % 4 / 2)}
			}
			_, errs[i] = c.Tasks.Summary(t.Context(), 7, opts...)
		}()
	}
	wg.Wait()
	for i := range callers {
		if i%2 == 0 {
			product := fmt.Sprintf("ok%d/1", i)
			assert.NoError(t, errs[i])
			assert.Equal(t, product, infos[i].RequestID)
			assert.Equal(t, 1, sent[product])
			continue
		}
		product := fmt.Sprintf("fail%d/1", i)
		assert.ErrorIs(t, errs[i], ErrServerError)
		assert.Equal(t, http.StatusServiceUnavailable, infos[i].StatusCode)
		assert.Equal(t, product, infos[i].RequestID)
		assert.Equal(t, 1+i%4/2, sent[product], "attempts of %s", product)
	}
}
