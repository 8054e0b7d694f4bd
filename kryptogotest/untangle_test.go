package kryptogotest

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

func TestFailNextOnRequestTargetsMethodAndPath(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	client := srv.Client(kryptogo.WithMaxRetries(0))
	id := createTask(t, srv)
	srv.FailNextOnRequest(http.MethodPost, "/task/"+id.String()+"/accepted", 1, http.StatusInternalServerError)

	_, err := client.Tasks.Get(ctx(t), id)
	require.NoError(t, err, "a GET of the same task does not consume a failure meant for the POST")
	_, err = client.Tasks.Summary(ctx(t), id)
	require.NoError(t, err)
	_, err = client.Tasks.Accept(ctx(t), id, "ok")
	assert.ErrorIs(t, err, kryptogo.ErrServerError, "the POST fails")
	_, err = client.Tasks.Accept(ctx(t), id, "ok")
	require.NoError(t, err, "once")

	srv.FailNextOnRequest("post", "/task*", 1, http.StatusBadGateway)
	_, err = client.Tasks.Summary(ctx(t), id)
	require.NoError(t, err, "GET under the prefix is not matched")
	_, err = client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("B")}})
	assert.ErrorIs(t, err, kryptogo.ErrServerError, "the method is compared case-insensitively, the prefix matches")

	srv.FailNextOn("/task/"+id.String(), 1, http.StatusInternalServerError)
	_, err = client.Tasks.Get(ctx(t), id)
	assert.ErrorIs(t, err, kryptogo.ErrServerError, "FailNextOn still matches any method")
}

func TestIDVTasksListsWhatTheCodeUnderTestCreated(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	client := srv.Client()
	img := pngImage(t)
	_, err := client.IDV.Create(ctx(t), &kryptogo.CreateIDVRequest{Country: "JPN", IDType: kryptogo.IDTypePassport,
		IDImage: img, FaceImage: img, CustomerReference: "cust-a"})
	require.NoError(t, err)
	_, err = client.IDV.InitWeb(ctx(t), &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypePassport,
		WorkflowID: kryptogo.WorkflowIDOnly, Country: "USA", CustomerReference: "cust-b"})
	require.NoError(t, err)
	_, err = client.IDV.InitMobile(ctx(t), &kryptogo.InitMobileIDVRequest{Country: "TWN", CustomerReference: "cust-c"})
	require.NoError(t, err)

	tasks := srv.IDVTasks()
	require.Len(t, tasks, 3)
	var refs []string
	var states []kryptogo.IDVState
	for _, task := range tasks {
		refs = append(refs, task.CustomerReference)
		states = append(states, task.State)
	}
	assert.Equal(t, []string{"cust-a", "cust-b", "cust-c"}, refs, "oldest first")
	assert.Equal(t, []kryptogo.IDVState{kryptogo.IDVPending, kryptogo.IDVInitial, kryptogo.IDVPending}, states)

	require.NoError(t, srv.CompleteIDV(tasks[0].IDVTaskID, IDVOutcome{State: kryptogo.IDVAccept}))
	tasks[2].ReviewReasons = append(tasks[2].ReviewReasons, kryptogo.Reason{Code: 1})
	again := srv.IDVTasks()
	assert.Equal(t, kryptogo.IDVAccept, again[0].State, "a fresh copy each call")
	assert.Empty(t, again[2].ReviewReasons, "changing a copy changes nothing in the fake")
}

func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

func TestListen(t *testing.T) {
	t.Parallel()
	addr := busyAddr(t)
	srv, err := Listen(addr)
	assert.Nil(t, srv)
	assert.ErrorContains(t, err, "kryptogotest: listen on "+addr)
	var opErr *net.OpError
	assert.True(t, errors.As(err, &opErr), "the listener's error is wrapped: %v", err)
	assert.Panics(t, func() { NewServer(WithAddr(addr)) }, "NewServer keeps its documented panic")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	free := ln.Addr().String()
	require.NoError(t, ln.Close())
	srv, err = Listen(free, WithAPIKey("k3"))
	require.NoError(t, err)
	defer srv.Close()
	assert.Equal(t, "http://"+free, srv.URL)
	_, err = srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
}

func TestDeprecatedNamesStillWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opt      Option
		progress int
	}{
		{"WithCompletion manual", WithCompletion(CompleteManually, time.Hour), 0},
		{"WithCompletion at once", WithCompletion(CompleteAtOnce, time.Hour), 100},
		{"WithCompletion after delay", WithCompletion(CompleteAfterDelay, time.Hour), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewTestServer(t, tc.opt)
			sum, err := srv.Client().Tasks.Summary(ctx(t), createTask(t, srv))
			require.NoError(t, err)
			assert.Equal(t, tc.progress, sum.Progress)
		})
	}
	srv := NewTestServer(t)
	srv.SetSanctioned(ethAddr)
	res, err := srv.Client().KYA.Create(ctx(t), &kryptogo.CreateKYARequest{Address: ethAddr})
	require.NoError(t, err)
	assert.Equal(t, 1, res.SDNCount(), "SetSanctioned")
}

// failingTransport stands in for a global transport another library
// replaced, as gock does while mocks are registered.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("gock: cannot match any request")
}

// Not parallel: it replaces http.DefaultTransport.
func TestCallbacksDoNotUseTheDefaultTransport(t *testing.T) {
	srv := NewTestServer(t, WithManualCompletion())
	cb := newReceiver(t)
	created, err := srv.Client().Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("A"), CallbackURL: cb.URL}})
	require.NoError(t, err)

	saved := http.DefaultTransport
	http.DefaultTransport = failingTransport{}
	t.Cleanup(func() { http.DefaultTransport = saved })
	_, err = http.Get(cb.URL)
	require.ErrorContains(t, err, "cannot match", "the replacement is in force")

	require.NoError(t, srv.CompleteTask(created[0].TaskID, TaskOutcome{PotentialRisk: 10}))
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	d := srv.Callbacks()
	require.Len(t, d, 1)
	assert.True(t, d[0].Delivered, "%v", d[0].Err)
	assert.Len(t, cb.received(), 1)
}

// Every operation at once from many goroutines, with callbacks, under
// -race: one lock, and callbacks sent after it is released. (Timers are
// exercised by the Close tests.)
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithCallbackRetries(1, time.Millisecond))
	cb := newReceiver(t)
	client := srv.Client()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := "c" + strconv.Itoa(g)
			created, err := client.Tasks.Create(ctx(t), []kryptogo.CreateTaskRequest{{SearchSettingID: 1,
				Target: kryptogo.KYBTarget("Acme"), CallbackURL: cb.URL, CustomerReference: ref}})
			if !assert.NoError(t, err) {
				return
			}
			id := created[0].TaskID
			assert.NoError(t, client.Tasks.SetMetadata(ctx(t), id, []kryptogo.Metadata{{Key: "g", Value: ref}}))
			_, err = client.Tasks.Accept(ctx(t), id, "ok")
			assert.NoError(t, err)
			_, err = client.IDV.InitMobile(ctx(t), &kryptogo.InitMobileIDVRequest{Country: "TWN", CustomerReference: ref})
			assert.NoError(t, err)
			srv.SetSanctionedAddresses(ref)
			_ = srv.IDVTasks()
			_ = srv.Requests()
		}()
	}
	wg.Wait()
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	assert.Len(t, cb.received(), 16, "each task's completion and acceptance")
	assert.Len(t, srv.IDVTasks(), 8)
}
