package kryptogo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// observed is one call of an Observer's hook.
type observed struct {
	Hook string
	Info any
}

// obsLog records every hook an Observer is called with, in order.
type obsLog struct {
	mu     sync.Mutex
	events []observed
}

func (l *obsLog) add(hook string, info any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, observed{hook, info})
}

func (l *obsLog) Events() []observed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]observed(nil), l.events...)
}

// Infos returns the infos recorded for hook.
func (l *obsLog) Infos(hook string) []any {
	var out []any
	for _, e := range l.Events() {
		if e.Hook == hook {
			out = append(out, e.Info)
		}
	}
	return out
}

func (l *obsLog) Observer() *Observer {
	return &Observer{
		CallStart: func(ctx context.Context, info CallStartInfo) context.Context {
			l.add("CallStart", info)
			return ctx
		},
		CallDone: func(_ context.Context, info CallDoneInfo) { l.add("CallDone", info) },
		AttemptStart: func(ctx context.Context, info AttemptStartInfo) context.Context {
			l.add("AttemptStart", info)
			return ctx
		},
		AttemptDone: func(_ context.Context, info AttemptDoneInfo) { l.add("AttemptDone", info) },
		RetryWait:   func(_ context.Context, info RetryWaitInfo) { l.add("RetryWait", info) },
		RetryBudget: func(_ context.Context, info RetryBudgetInfo) { l.add("RetryBudget", info) },
		PauseStart:  func(_ context.Context, info PauseStartInfo) { l.add("PauseStart", info) },
		PauseDone:   func(_ context.Context, info PauseDoneInfo) { l.add("PauseDone", info) },
		Reconcile:   func(_ context.Context, info ReconcileInfo) { l.add("Reconcile", info) },
		CallbackStart: func(ctx context.Context, info CallbackStartInfo) context.Context {
			l.add("CallbackStart", info)
			return ctx
		},
		CallbackDone: func(_ context.Context, info CallbackDoneInfo) { l.add("CallbackDone", info) },
	}
}

// ignoreTimes leaves out of a comparison what the clock decides.
var ignoreTimes = cmp.Options{
	cmpopts.IgnoreFields(CallDoneInfo{}, "Duration"),
	cmpopts.IgnoreFields(AttemptDoneInfo{}, "Duration"),
	cmpopts.IgnoreFields(RetryWaitInfo{}, "Wait"),
	cmpopts.IgnoreFields(ReconcileInfo{}, "Duration"),
	cmpopts.IgnoreFields(CallbackDoneInfo{}, "Duration"),
}

func assertObserved(t *testing.T, want, got []observed) {
	t.Helper()
	if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
		t.Errorf("observed hooks (-want +got):\n%s", diff)
	}
}

// serverOfClient returns the host and port a test client sends to.
func serverOfClient(t *testing.T, c *Client) (string, int) {
	t.Helper()
	port, err := strconv.Atoi(c.base.Port())
	require.NoError(t, err)
	return c.base.Hostname(), port
}

var (
	tasksGet   = Operation{Name: "Tasks.Get", Route: "/task/{task_id}", Method: http.MethodGet}
	kyaCreate  = Operation{Name: "KYA.Create", Route: "/kya", Method: http.MethodPost}
	kyaScreen  = Operation{Name: "KYA.Screen", Route: "/kya", Method: http.MethodPost}
	kyaAddress = "0x1111111111111111111111111111111111111111"
)

func TestObserverSeesEachStepOfACall(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t, WithObserver(log.Observer()))
	var n atomic.Int32
	mux.HandleFunc("/task/12", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "req-"+strconv.Itoa(int(n.Add(1))))
		if n.Load() == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		serveFixture(t, "task_detail.json")(w)
	})
	_, err := c.Tasks.Get(t.Context(), 12)
	require.NoError(t, err)

	host, port := serverOfClient(t, c)
	assertObserved(t, []observed{
		{"CallStart", CallStartInfo{Operation: tasksGet, ServerAddress: host, ServerPort: port}},
		{"AttemptStart", AttemptStartInfo{Operation: tasksGet, Attempt: 1}},
		{"AttemptDone", AttemptDoneInfo{Operation: tasksGet, Attempt: 1, StatusCode: 503, RequestID: "req-1", ErrorClass: ErrorClassServerError}},
		{"RetryBudget", RetryBudgetInfo{Operation: tasksGet, Spent: 5, Available: DefaultRetryBudget - 5, Capacity: DefaultRetryBudget}},
		{"RetryWait", RetryWaitInfo{Operation: tasksGet, Attempt: 1, StatusCode: 503, ErrorClass: ErrorClassServerError}},
		{"AttemptStart", AttemptStartInfo{Operation: tasksGet, Attempt: 2}},
		{"AttemptDone", AttemptDoneInfo{Operation: tasksGet, Attempt: 2, StatusCode: 200, RequestID: "req-2"}},
		{"RetryBudget", RetryBudgetInfo{Operation: tasksGet, Refunded: 5, Available: DefaultRetryBudget, Capacity: DefaultRetryBudget}},
		{"CallDone", CallDoneInfo{Operation: tasksGet, Attempts: 2, StatusCode: 200, RequestID: "req-2"}},
	}, log.Events())
	wait := log.Infos("RetryWait")[0].(RetryWaitInfo).Wait
	assert.GreaterOrEqual(t, wait, time.Millisecond, "the backoff's minimum")
	done := log.Infos("CallDone")[0].(CallDoneInfo)
	assert.Positive(t, done.Duration)
	assert.GreaterOrEqual(t, done.Duration, log.Infos("AttemptDone")[1].(AttemptDoneInfo).Duration)
}

func TestObserverSeesThePOSTThatMayHaveBeenSent(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t, WithObserver(log.Observer()))
	mux.HandleFunc("/kya", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusBadGateway)
	})
	_, err := c.KYA.Create(t.Context(), &CreateKYARequest{Address: kyaAddress})
	require.ErrorIs(t, err, ErrMaybeSent)
	assertObserved(t, []observed{
		{"AttemptDone", AttemptDoneInfo{Operation: kyaCreate, Attempt: 1, StatusCode: 502, ErrorClass: ErrorClassMaybeSent}},
	}, filterHooks(log.Events(), "AttemptDone"))
	assertObserved(t, []observed{
		{"CallDone", CallDoneInfo{Operation: kyaCreate, Attempts: 1, StatusCode: 502, ErrorClass: ErrorClassMaybeSent}},
	}, filterHooks(log.Events(), "CallDone"))
}

func filterHooks(events []observed, hooks ...string) []observed {
	var out []observed
	for _, e := range events {
		for _, h := range hooks {
			if e.Hook == h {
				out = append(out, e)
			}
		}
	}
	return out
}

func TestObserverSeesTheClientPause(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t, WithObserver(log.Observer()))
	waits := recordWaits(c, time.Now())
	var n atomic.Int32
	mux.HandleFunc("/task/1", func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		serveFixture(t, "task_detail.json")(w)
	})
	_, err := c.Tasks.Get(t.Context(), 1)
	require.NoError(t, err)
	assertObserved(t, []observed{
		{"AttemptDone", AttemptDoneInfo{Operation: tasksGet, Attempt: 1, StatusCode: 429, ErrorClass: ErrorClassRateLimited, Pause: 3 * time.Second}},
		{"RetryWait", RetryWaitInfo{Operation: tasksGet, Attempt: 1, StatusCode: 429, ErrorClass: ErrorClassRateLimited}},
		{"AttemptDone", AttemptDoneInfo{Operation: tasksGet, Attempt: 2, StatusCode: 200}},
	}, filterHooks(log.Events(), "AttemptDone", "RetryWait", "PauseStart", "PauseDone"))
	assert.Equal(t, []time.Duration{3 * time.Second}, waits.list(), "the call that met the 429 waits in its retry, not twice")

	t.Run("another call waits", func(t *testing.T) {
		log.events = nil
		_, err := c.Tasks.Get(t.Context(), 1)
		require.NoError(t, err)
		assertObserved(t, []observed{
			{"PauseStart", PauseStartInfo{Operation: tasksGet, Wait: 3 * time.Second}},
			{"PauseDone", PauseDoneInfo{Operation: tasksGet, Waited: 3 * time.Second}},
			{"AttemptDone", AttemptDoneInfo{Operation: tasksGet, Attempt: 1, StatusCode: 200}},
		}, filterHooks(log.Events(), "AttemptDone", "PauseStart", "PauseDone"))
	})
	t.Run("a call whose deadline comes first gives up", func(t *testing.T) {
		log.events = nil
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		// The clock is frozen: the pause has 3 s to go, past the deadline.
		c.flow.gate.extend(c.now().Add(3 * time.Second))
		_, err := c.Tasks.Get(ctx, 1)
		require.Error(t, err)
		assertObserved(t, []observed{
			{"PauseStart", PauseStartInfo{Operation: tasksGet, Wait: 3 * time.Second}},
			{"PauseDone", PauseDoneInfo{Operation: tasksGet, GaveUp: true}},
			{"CallDone", CallDoneInfo{Operation: tasksGet, ErrorClass: ErrorClassPaused}},
		}, filterHooks(log.Events(), "AttemptStart", "PauseStart", "PauseDone", "CallDone"))
	})
}

func TestObserverSeesTheRetryBudgetRunOut(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t, WithObserver(log.Observer()), WithRetryBudget(5))
	mux.HandleFunc("/task/1", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	_, err := c.Tasks.Get(t.Context(), 1)
	require.ErrorIs(t, err, ErrRetryBudgetExhausted)
	assertObserved(t, []observed{
		{"RetryBudget", RetryBudgetInfo{Operation: tasksGet, Spent: 5, Available: 0, Capacity: 5}},
		{"RetryBudget", RetryBudgetInfo{Operation: tasksGet, Exhausted: true, Available: 0, Capacity: 5}},
		{"CallDone", CallDoneInfo{Operation: tasksGet, Attempts: 2, StatusCode: 503, ErrorClass: ErrorClassBudgetExhausted}},
	}, filterHooks(log.Events(), "RetryBudget", "CallDone"))
}

func TestObserverSeesCallsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c := offlineClient(t)
	c.cfg.observer = log.Observer()
	ctx := t.Context()

	_, err := c.Tasks.Get(ctx, 0)
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = c.KYA.Create(ctx, &CreateKYARequest{Address: "not an address"})
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = c.Tasks.Get(ctx, 1, WithTimeout(-1))
	require.Error(t, err)
	err = c.Do(ctx, "get", "no-slash", nil, nil)
	require.ErrorIs(t, err, ErrInvalidRequest)

	host, port := "external-api.kryptogo.com", 443 // the default base URL
	doGET := Operation{Name: "Do", Method: http.MethodGet}
	assertObserved(t, []observed{
		{"CallStart", CallStartInfo{Operation: tasksGet, ServerAddress: host, ServerPort: port}},
		{"CallDone", CallDoneInfo{Operation: tasksGet, ErrorClass: ErrorClassInvalidRequest}},
		{"CallStart", CallStartInfo{Operation: kyaCreate, ServerAddress: host, ServerPort: port}},
		{"CallDone", CallDoneInfo{Operation: kyaCreate, ErrorClass: ErrorClassInvalidRequest}},
		{"CallStart", CallStartInfo{Operation: tasksGet, ServerAddress: host, ServerPort: port}},
		{"CallDone", CallDoneInfo{Operation: tasksGet, ErrorClass: ErrorClassOther}},
		{"CallStart", CallStartInfo{Operation: doGET, ServerAddress: host, ServerPort: port}},
		{"CallDone", CallDoneInfo{Operation: doGET, ErrorClass: ErrorClassInvalidRequest}},
	}, log.Events())
}

func TestObserverOfDo(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t)
	mux.HandleFunc("/task/77/custom", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) })
	require.NoError(t, c.Do(t.Context(), "post", "/task/77/custom?x=1", map[string]int{"a": 1}, nil, WithObserver(log.Observer())))
	doPOST := Operation{Name: "Do", Method: http.MethodPost}
	assertObserved(t, []observed{
		{"CallDone", CallDoneInfo{Operation: doPOST, Attempts: 1, StatusCode: 200}},
	}, filterHooks(log.Events(), "CallDone"))
	assert.Same(t, doOperation("POST"), doOperation("POST"), "the common methods' operations are shared")
	assert.Equal(t, Operation{Name: "Do", Method: "PROPFIND"}, *doOperation("PROPFIND"))
}

func TestObserversAddUpAndTheirContextsFlow(t *testing.T) {
	t.Parallel()
	type key string
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	client := &Observer{
		CallStart: func(ctx context.Context, info CallStartInfo) context.Context {
			note("client CallStart")
			return context.WithValue(ctx, key("call"), info.Operation.Name)
		},
		AttemptStart: func(ctx context.Context, info AttemptStartInfo) context.Context {
			assert.Equal(t, "Tasks.Get", ctx.Value(key("call")), "an attempt's context is the call's")
			return context.WithValue(ctx, key("attempt"), info.Attempt)
		},
		AttemptDone: func(ctx context.Context, info AttemptDoneInfo) {
			assert.Equal(t, info.Attempt, ctx.Value(key("attempt")), "AttemptDone gets AttemptStart's context")
		},
		CallDone: func(ctx context.Context, _ CallDoneInfo) {
			note("client CallDone")
			assert.Equal(t, "Tasks.Get", ctx.Value(key("call")))
			assert.Nil(t, ctx.Value(key("attempt")), "CallDone gets the call's context")
		},
	}
	perCall := &Observer{
		CallStart: func(ctx context.Context, _ CallStartInfo) context.Context {
			note("call CallStart")
			assert.Equal(t, "Tasks.Get", ctx.Value(key("call")), "the call's observer runs after the client's, on its context")
			return nil // keeps the context it got
		},
		CallDone: func(ctx context.Context, _ CallDoneInfo) {
			note("call CallDone")
			assert.Equal(t, "Tasks.Get", ctx.Value(key("call")))
		},
	}
	var seen atomic.Value
	mw := func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		op, ok := OperationFromContext(req.Context())
		assert.True(t, ok)
		seen.Store(op)
		assert.Equal(t, 1, req.Context().Value(key("attempt")), "the request carries the attempt's context")
		req.Header.Set("X-Traced", "yes")
		return next(req)
	}
	c, mux := setup(t, WithObserver(client), WithMiddleware(mw))
	mux.HandleFunc("/task/5", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "yes", r.Header.Get("X-Traced"), "a middleware's header reaches the API")
		serveFixture(t, "task_detail.json")(w)
	})
	_, err := c.Tasks.Get(t.Context(), 5, WithObserver(perCall))
	require.NoError(t, err)
	assert.Equal(t, []string{"client CallStart", "call CallStart", "client CallDone", "call CallDone"}, order)
	assert.Equal(t, tasksGet, seen.Load())
	_, ok := OperationFromContext(t.Context())
	assert.False(t, ok, "no operation outside an attempt")
}

func TestWithObserverAndWithMiddlewareRefuseNil(t *testing.T) {
	t.Parallel()
	_, err := NewClient(testKey, WithObserver(nil))
	require.ErrorContains(t, err, "WithObserver: nil")
	_, err = NewClient(testKey, WithMiddleware(nil))
	require.ErrorContains(t, err, "WithMiddleware: nil")
}

func TestMiddlewaresWrapEachAttemptInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var trail []string
	named := func(name string) Middleware {
		return func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
			mu.Lock()
			trail = append(trail, name+" in")
			mu.Unlock()
			resp, err := next(req)
			mu.Lock()
			trail = append(trail, name+" out")
			mu.Unlock()
			return resp, err
		}
	}
	c, mux := setup(t, WithMiddleware(named("a"), named("b")))
	var n atomic.Int32
	mux.HandleFunc("/task/5", func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		serveFixture(t, "task_detail.json")(w)
	})
	_, err := c.Tasks.Get(t.Context(), 5, WithMiddleware(named("call")))
	require.NoError(t, err)
	once := []string{"a in", "b in", "call in", "call out", "b out", "a out"}
	assert.Equal(t, append(once, once...), trail, "each attempt, the client's first, the call's innermost")
}

func TestMiddlewareThatAnswersNothingFailsTheAttempt(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, WithMaxRetries(0), WithMiddleware(func(*http.Request, MiddlewareNext) (*http.Response, error) {
		return nil, nil
	}))
	_, err := c.Tasks.Get(t.Context(), 5)
	require.ErrorContains(t, err, "neither a response nor an error")
	assert.Equal(t, ErrorClassNetwork, ErrorClassOf(err))

	// A middleware that answers by itself sends nothing the SDK can see:
	// the client warns of a blind transport, which a GET does not mind.
	c, _ = setup(t, WithLogger(discardLogger()), WithMiddleware(func(*http.Request, MiddlewareNext) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}, nil // no Body
	}))
	err = c.Do(t.Context(), http.MethodGet, "/x", nil, nil)
	require.NoError(t, err, "a response without a body reads as empty")
}

func TestMiddlewareThatDropsTheContextMakesEveryFailedPOSTMaybeSent(t *testing.T) {
	t.Parallel()
	base := "http://" + refusingAddr(t) // a freed port may go to a parallel test's server
	var sends atomic.Int32
	keep := func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		sends.Add(1)
		return next(req)
	}
	drop := func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		sends.Add(1)
		fresh, err := http.NewRequest(req.Method, req.URL.String(), req.Body) //nolint:noctx // the point of the test
		if err != nil {
			return nil, err
		}
		fresh.Header = req.Header
		return next(fresh)
	}
	for _, tc := range []struct {
		name      string
		mw        Middleware
		maybeSent bool
		sends     int32
	}{
		{"context kept: refused connections are retried", keep, false, 3},
		{"context dropped: the SDK cannot see the send", drop, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sends.Store(0)
			c, err := NewClient(testKey, WithBaseURL(base), WithRetryBackoff(time.Millisecond, time.Millisecond),
				WithMiddleware(tc.mw), WithLogger(discardLogger()))
			require.NoError(t, err)
			_, err = c.KYA.Create(t.Context(), &CreateKYARequest{Address: kyaAddress})
			require.Error(t, err)
			assert.Equal(t, tc.maybeSent, errors.Is(err, ErrMaybeSent), "%v", err)
			assert.Equal(t, tc.sends, sends.Load())
		})
	}
}

func TestHedgingMiddlewareCannotSendAPOSTTwice(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	c, mux := setup(t)
	mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
		serveFixture(t, "kya_result.json")(w)
	})
	// A middleware that sends two copies at once and keeps the first answer.
	hedge := func(req *http.Request, next MiddlewareNext) (*http.Response, error) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		type answer struct {
			resp *http.Response
			err  error
		}
		answers := make(chan answer, 2)
		for range 2 {
			go func() {
				copyReq := req.Clone(req.Context())
				copyReq.Body = io.NopCloser(bytes.NewReader(body))
				resp, err := next(copyReq)
				answers <- answer{resp, err}
			}()
		}
		var first answer
		for i := range 2 {
			a := <-answers
			if i == 0 || first.err != nil {
				if first.resp != nil {
					first.resp.Body.Close()
				}
				first = a
			} else if a.resp != nil {
				a.resp.Body.Close()
			}
		}
		return first.resp, first.err
	}
	_, err := c.KYA.Create(t.Context(), &CreateKYARequest{Address: kyaAddress}, WithMiddleware(hedge), WithMaxRetries(0))
	require.NoError(t, err)
	assert.Equal(t, int32(1), posts.Load(), "the send guard stops the second copy before its first byte")
}

func TestErrorClassOf(t *testing.T) {
	t.Parallel()
	apiErr := func(method string, status int) error {
		return &APIError{Method: method, Path: "/x", StatusCode: status}
	}
	for _, tc := range []struct {
		name string
		err  error
		want ErrorClass
	}{
		{"nil", nil, ""},
		{"validation", invalid("address", "is required"), ErrorClassInvalidRequest},
		{"pause", &pauseError{method: "GET", path: "/x", left: time.Second, ctxErr: context.Canceled}, ErrorClassPaused},
		{"budget", &budgetError{err: apiErr("GET", 503)}, ErrorClassBudgetExhausted},
		{"maybe sent", &maybeSentError{err: errors.New("reset")}, ErrorClassMaybeSent},
		{"POST 5xx", apiErr("POST", 500), ErrorClassMaybeSent},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), ErrorClassCanceled},
		{"deadline", context.DeadlineExceeded, ErrorClassTimeout},
		{"deadline in a retry wait", fmt.Errorf("%w (retry wait after: %w)", context.DeadlineExceeded, apiErr("GET", 503)), ErrorClassTimeout},
		{"429", apiErr("GET", 429), ErrorClassRateLimited},
		{"503", apiErr("GET", 503), ErrorClassServerError},
		{"404", apiErr("GET", 404), ErrorClassClientError},
		{"302", apiErr("GET", 302), ErrorClassClientError},
		{"bad 2xx", &ResponseError{Method: "GET", Path: "/x", StatusCode: 200, Err: errors.New("x")}, ErrorClassInvalidResponse},
		{"connection reset", offlineClient(t).scrubber(nil).wrap("kryptogo: GET /x: ", &net.OpError{Op: "read", Err: errors.New("reset")}), ErrorClassNetwork},
		{"limiter", &limiterError{err: errors.New("burst exceeded")}, ErrorClassOther},
		{"anything else", errors.New("?"), ErrorClassOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ErrorClassOf(tc.err))
		})
	}
}

func TestScreenResultsCarryTheirAnswersAndEachItemIsObserved(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t)
	var n atomic.Int32
	mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Request-Id", "kya-"+strconv.Itoa(int(n.Add(1))))
		serveFixture(t, "kya_result.json")(w)
	})
	reqs := []CreateKYARequest{{Address: kyaAddress}, {Address: "nope"}, {Address: kyaAddress}}
	results := c.KYA.Screen(t.Context(), reqs, &ScreenOptions{Concurrency: 1}, WithObserver(log.Observer()))
	require.Len(t, results, 3)
	require.NoError(t, results[0].Err)
	require.NoError(t, results[2].Err)
	require.ErrorIs(t, results[1].Err, ErrInvalidRequest)
	assert.Equal(t, http.StatusOK, results[0].Info.StatusCode)
	assert.Equal(t, http.StatusOK, results[2].Info.StatusCode)
	assert.ElementsMatch(t, []string{"kya-1", "kya-2"}, []string{results[0].Info.RequestID, results[2].Info.RequestID})
	assert.NotEqual(t, results[0].Info.RequestID, results[2].Info.RequestID, "each item has its own answer")
	assert.Equal(t, ResponseInfo{}, results[1].Info, "an item never sent has no answer")

	var done []CallDoneInfo
	for _, info := range log.Infos("CallDone") {
		d := info.(CallDoneInfo)
		d.Duration, d.RequestID = 0, ""
		done = append(done, d)
	}
	assert.ElementsMatch(t, []CallDoneInfo{
		{Operation: kyaScreen, ErrorClass: ErrorClassInvalidRequest},
		{Operation: kyaScreen, Attempts: 1, StatusCode: 200},
		{Operation: kyaScreen, Attempts: 1, StatusCode: 200},
	}, done, "every item is a call of its own")

	t.Run("items never sent", func(t *testing.T) {
		log.events = nil
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		results := c.KYA.Screen(ctx, reqs[:1], nil, WithObserver(log.Observer()))
		require.ErrorIs(t, results[0].Err, context.Canceled)
		assertObserved(t, []observed{
			{"CallDone", CallDoneInfo{Operation: kyaScreen, ErrorClass: ErrorClassCanceled}},
		}, filterHooks(log.Events(), "CallDone"))
	})
	t.Run("WithResponseInfo is refused: each result has its own", func(t *testing.T) {
		results := c.KYA.Screen(t.Context(), reqs[:1], nil, WithResponseInfo(&ResponseInfo{}))
		require.ErrorContains(t, results[0].Err, "each ScreenResult has its own Info")
	})
}

func TestCallbackOutcomesAreObserved(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	confirm := attackAPI(t) // 12: 404, 13: 503, 15: 401
	signed := func(ref string, body []byte) *http.Request {
		req, err := NewSignedCallbackRequest(signer, "https://example.com/cb", ref, body)
		require.NoError(t, err)
		return req
	}
	taskBody := fixture(t, "callback_task.json")
	get := signed(fixtureRef, taskBody)
	get.Method = http.MethodGet
	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", taskBody)
	require.NoError(t, err)
	ok := func(context.Context, *TaskSummary) error { return nil }
	failing := func(context.Context, *TaskSummary) error { return errors.New("database down") }
	withConfirm := func(id int) (*CallbackHandler, *http.Request) {
		req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", fmt.Appendf(nil, `{"task_id": %d, "progress": 100}`, id))
		require.NoError(t, err)
		return &CallbackHandler{Confirm: confirm, OnTask: ok}, req
	}
	for _, tc := range []struct {
		name    string
		handler *CallbackHandler
		req     *http.Request
		want    CallbackDoneInfo
	}{
		{"delivered", &CallbackHandler{Signer: signer, OnTask: ok}, signed(fixtureRef, taskBody),
			CallbackDoneInfo{Kind: CallbackTask, RecordID: 123, Outcome: CallbackDelivered, StatusCode: 204, Verified: true}},
		{"acknowledged", &CallbackHandler{Signer: signer}, signed(fixtureRef, taskBody),
			CallbackDoneInfo{Kind: CallbackTask, RecordID: 123, Outcome: CallbackAcknowledged, StatusCode: 204, Verified: true}},
		{"failed", &CallbackHandler{Signer: signer, OnTask: failing}, signed(fixtureRef, taskBody),
			CallbackDoneInfo{Kind: CallbackTask, RecordID: 123, Outcome: CallbackFailed, StatusCode: 500, Verified: true}},
		{"not a POST", &CallbackHandler{Signer: signer, OnTask: ok}, get,
			CallbackDoneInfo{Outcome: CallbackBadMethod, StatusCode: 405}},
		{"unsigned", &CallbackHandler{Signer: signer, OnTask: ok}, unsigned,
			CallbackDoneInfo{Outcome: CallbackUnauthorized, StatusCode: 401}},
		{"not a callback", &CallbackHandler{Signer: signer, OnTask: ok}, signed(fixtureRef, []byte(`{"kya_id":1}`)),
			CallbackDoneInfo{Outcome: CallbackMalformed, StatusCode: 400}},
		{"too large", &CallbackHandler{Signer: signer, OnTask: ok, MaxBodyBytes: 10}, signed(fixtureRef, taskBody),
			CallbackDoneInfo{Outcome: CallbackTooLarge, StatusCode: 413}},
		{"another customer's", &CallbackHandler{Signer: signer, OnTask: ok}, signed("someone-else", taskBody),
			CallbackDoneInfo{Kind: CallbackTask, RecordID: 123, Outcome: CallbackForbidden, StatusCode: 403, Verified: true}},
		{"misconfigured", &CallbackHandler{OnTask: ok}, signed(fixtureRef, taskBody),
			CallbackDoneInfo{Outcome: CallbackError, StatusCode: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &obsLog{}
			tc.handler.Logger, tc.handler.Observer = discardLogger(), log.Observer()
			serve(tc.handler, tc.req)
			assertObserved(t, []observed{
				{"CallbackStart", CallbackStartInfo{Method: tc.req.Method}},
				{"CallbackDone", tc.want},
			}, log.Events())
		})
	}
	for _, tc := range []struct {
		id   int
		want CallbackDoneInfo
	}{
		{12, CallbackDoneInfo{Kind: CallbackTask, RecordID: 12, Outcome: CallbackUnknownRecord, StatusCode: 422}},
		{13, CallbackDoneInfo{Kind: CallbackTask, RecordID: 13, Outcome: CallbackUnavailable, StatusCode: 503}},
		{15, CallbackDoneInfo{Kind: CallbackTask, RecordID: 15, Outcome: CallbackError, StatusCode: 500}},
		{5, CallbackDoneInfo{Kind: CallbackTask, RecordID: 5, Outcome: CallbackDelivered, StatusCode: 204, Confirmed: true}},
	} {
		t.Run("confirm "+strconv.Itoa(tc.id), func(t *testing.T) {
			log := &obsLog{}
			h, req := withConfirm(tc.id)
			h.Logger, h.Observer = discardLogger(), log.Observer()
			serve(h, req)
			assertObserved(t, []observed{{"CallbackDone", tc.want}}, filterHooks(log.Events(), "CallbackDone"))
		})
	}
}

func TestCallbackStartContextReachesTheFunctionAndTheConfirmation(t *testing.T) {
	t.Parallel()
	type key struct{}
	var confirmCtx atomic.Value
	client, mux := setup(t, WithObserver(&Observer{CallStart: func(ctx context.Context, _ CallStartInfo) context.Context {
		confirmCtx.Store(fmt.Sprint(ctx.Value(key{})))
		return ctx
	}}))
	mux.HandleFunc("/task/123/summary", func(w http.ResponseWriter, _ *http.Request) { serveFixture(t, "task_summary.json")(w) })
	var fnCtx any
	h := &CallbackHandler{Confirm: client, Logger: discardLogger(),
		OnTask: func(ctx context.Context, _ *TaskSummary) error { fnCtx = ctx.Value(key{}); return nil },
		Observer: &Observer{CallbackStart: func(ctx context.Context, _ CallbackStartInfo) context.Context {
			return context.WithValue(ctx, key{}, "callback span")
		}},
	}
	req, err := NewSignedCallbackRequest(nil, "https://example.com/cb", "", []byte(`{"task_id": 123, "progress": 100}`))
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, serve(h, req))
	assert.Equal(t, "callback span", fnCtx)
	assert.Equal(t, "callback span", confirmCtx.Load(), "the confirmation is a child of the callback")
}

func TestServerOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		host string
		port int
	}{
		{"https://external-api.kryptogo.com", "external-api.kryptogo.com", 443},
		{"http://localhost", "localhost", 80},
		{"https://api.example:8443/v1", "api.example", 8443},
		{"http://[::1]:9000", "::1", 9000},
	} {
		u, err := url.Parse(tc.raw)
		require.NoError(t, err)
		host, port := serverOf(u.Host, u.Scheme)
		assert.Equal(t, tc.host, host, tc.raw)
		assert.Equal(t, tc.port, port, tc.raw)
	}
}

func TestObserverGetsRequestIDsMaskedAsErrorsMaskThem(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c, mux := setup(t, WithObserver(log.Observer()), WithMaxRetries(0))
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Request-Id", "echo "+r.Header.Get("GOFACT-API-TOKEN")+" Jane Roe")
		http.Error(w, "bad", http.StatusBadRequest)
	})
	_, err := c.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget("Jane Roe", "1985-01-31", "TWN")}})
	require.Error(t, err)
	done := log.Infos("CallDone")[0].(CallDoneInfo)
	attempt := log.Infos("AttemptDone")[0].(AttemptDoneInfo)
	for _, id := range []string{done.RequestID, attempt.RequestID} {
		assert.Contains(t, id, "echo ", "the request id is kept")
		assert.NotContains(t, id, testKey)
		assert.NotContains(t, id, "Jane Roe")
	}
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, apiErr.RequestID, done.RequestID, "as the error masks it")
}

func TestAllRefusedBeforeSendingIsObserved(t *testing.T) {
	t.Parallel()
	log := &obsLog{}
	c := offlineClient(t)
	for _, err := range c.Tasks.All(t.Context(), &HistoryOptions{PageSize: -1}, WithObserver(log.Observer())) {
		require.ErrorIs(t, err, ErrInvalidRequest)
	}
	listing := Operation{Name: "Tasks.History", Route: "/tasks", Method: http.MethodGet}
	assertObserved(t, []observed{
		{"CallDone", CallDoneInfo{Operation: listing, ErrorClass: ErrorClassInvalidRequest}},
	}, filterHooks(log.Events(), "CallDone"))
}
