package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/bench/oapigen"
	"github.com/kyabc/kryptogo-go/bench/ogengen"
)

// impl is one way of calling the API. Each call returns what the caller
// gets back (the tests compare those across implementations; the
// benchmarks drop them).
type impl struct {
	name        string
	getTask     func(ctx context.Context, id string) (any, error)
	createTasks func(ctx context.Context) (any, error)
	getKYA      func(ctx context.Context, id string) (any, error)
	// closeIdle releases the implementation's idle connections.
	closeIdle func()
}

// The implementations' names, in the order the benchmarks run them and the
// table shows them; handwritten is the baseline of every ratio.
const (
	implHand  = "handwritten"
	implSDK   = "sdk"
	implOapi  = "oapi-codegen"
	implOgen  = "ogen"
	implLimit = "limit"
)

var implNames = []string{implHand, implSDK, implOapi, implOgen, implLimit}

// newImpl builds the named implementation against the server; its idle
// connections are closed when tb ends.
func newImpl(tb testing.TB, name string, srv *loopback) impl {
	tb.Helper()
	var im impl
	switch name {
	case implHand:
		im = newHandwritten(srv)
	case implSDK:
		im = newSDKImpl(tb, srv)
	case implOapi:
		im = newOapiImpl(tb, srv)
	case implOgen:
		im = newOgenImpl(tb, srv)
	case implLimit:
		im = newLimit(srv)
	default:
		tb.Fatalf("unknown implementation %q", name)
	}
	im.name = name
	tb.Cleanup(im.closeIdle)
	return im
}

// createRequests are the tasks every implementation creates: the two of
// testdata/task_create_request.json, a KYC and a KYB target.
var createRequests = []handCreateTask{
	{SearchSettingID: 2, Target: handTarget{Type: 1, Name: "王又曾", Birthday: "1990-06-21", Citizenship: "TWN"},
		SearchSource: []int{0, 1, 2, 3, 4}, CallbackURL: "https://myserver.com/send/callback/here", CustomerReference: "000000123"},
	{SearchSettingID: 2, Target: handTarget{Type: 2, Name: "KryptoGO Ltd."}, SearchSource: []int{4}},
}

func newHandwritten(srv *loopback) impl {
	hc := &http.Client{Transport: tunedTransport()}
	return impl{
		getTask: func(ctx context.Context, id string) (any, error) {
			// The plain struct refuses the nested variant's quirks.
			var out any = new(handTaskDetail)
			if id == nestedTaskID {
				out = new(handTaskDetailQuirks)
			}
			return out, handDo(ctx, hc, http.MethodGet, srv.URL+"/task/"+id, nil, out)
		},
		createTasks: func(ctx context.Context) (any, error) {
			return handCreateTasks(ctx, hc, srv.URL+"/task", createRequests)
		},
		getKYA: func(ctx context.Context, id string) (any, error) {
			out := new(handKYAResult)
			return out, handDo(ctx, hc, http.MethodGet, srv.URL+"/kya/detail/"+id, nil, out)
		},
		closeIdle: hc.CloseIdleConnections,
	}
}

// sdkCreateRequests are createRequests for the SDK.
var sdkCreateRequests = []kryptogo.CreateTaskRequest{
	{SearchSettingID: 2, Target: kryptogo.KYCTarget("王又曾", "1990-06-21", "TWN"),
		SearchSource:      kryptogo.SearchSources{0, 1, 2, 3, 4},
		CallbackURL:       "https://myserver.com/send/callback/here",
		CustomerReference: "000000123"},
	{SearchSettingID: 2, Target: kryptogo.KYBTarget("KryptoGO Ltd."), SearchSource: kryptogo.SearchSources{4}},
}

// newSDKClient is the SDK's client with its defaults, on the server.
func newSDKClient(tb testing.TB, srv *loopback) *kryptogo.Client {
	tb.Helper()
	c, err := kryptogo.NewClient(apiKey, kryptogo.WithBaseURL(srv.URL))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func newSDKImpl(tb testing.TB, srv *loopback) impl {
	c := newSDKClient(tb, srv)
	return impl{
		getTask: func(ctx context.Context, id string) (any, error) {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return nil, err
			}
			return c.Tasks.Get(ctx, kryptogo.ID(n))
		},
		createTasks: func(ctx context.Context) (any, error) {
			return c.Tasks.Create(ctx, sdkCreateRequests)
		},
		getKYA: func(ctx context.Context, id string) (any, error) {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return nil, err
			}
			return c.KYA.Get(ctx, kryptogo.ID(n))
		},
		closeIdle: c.CloseIdleConnections,
	}
}

// oapiCreateRequests are createRequests for the oapi-codegen client.
var oapiCreateRequests = func() oapigen.CreateTasksJSONRequestBody {
	birthday, citizenship := "1990-06-21", "TWN"
	callback, ref := "https://myserver.com/send/callback/here", "000000123"
	return oapigen.CreateTasksJSONRequestBody{
		{SearchSettingId: 2, Target: oapigen.Target{Type: 1, Name: "王又曾", Birthday: &birthday, Citizenship: &citizenship},
			SearchSource: []int{0, 1, 2, 3, 4}, CallbackUrl: &callback, CustomerReference: &ref},
		{SearchSettingId: 2, Target: oapigen.Target{Type: 2, Name: "KryptoGO Ltd."}, SearchSource: []int{4}},
	}
}()

// errOapiStatus reports an answer the oapi-codegen client did not decode
// as a 200.
type errOapiStatus struct{ status int }

func (e errOapiStatus) Error() string { return "unexpected status " + strconv.Itoa(e.status) }

// newOapiImpl is the oapi-codegen client, used as its README shows: the
// key set by a request editor, the ...WithResponse methods, a check that
// the 200 answer was decoded.
func newOapiImpl(tb testing.TB, srv *loopback) impl {
	tb.Helper()
	hc := &http.Client{Transport: tunedTransport()}
	c, err := oapigen.NewClientWithResponses(srv.URL, oapigen.WithHTTPClient(hc),
		oapigen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("GOFACT-API-TOKEN", apiKey)
			return nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	return impl{
		getTask: func(ctx context.Context, id string) (any, error) {
			resp, err := c.GetTaskWithResponse(ctx, id)
			if err == nil && resp.JSON200 == nil {
				err = errOapiStatus{resp.StatusCode()}
			}
			return resp, err
		},
		createTasks: func(ctx context.Context) (any, error) {
			resp, err := c.CreateTasksWithResponse(ctx, oapiCreateRequests)
			if err == nil && resp.JSON200 == nil {
				err = errOapiStatus{resp.StatusCode()}
			}
			return resp, err
		},
		getKYA: func(ctx context.Context, id string) (any, error) {
			resp, err := c.GetKYAWithResponse(ctx, id)
			if err == nil && resp.JSON200 == nil {
				err = errOapiStatus{resp.StatusCode()}
			}
			return resp, err
		},
		closeIdle: hc.CloseIdleConnections,
	}
}

// ogenKey is the ogen client's security source: the API key.
type ogenKey struct{}

func (ogenKey) ApiKeyAuth(context.Context, ogengen.OperationName) (ogengen.ApiKeyAuth, error) {
	return ogengen.ApiKeyAuth{APIKey: apiKey}, nil
}

// ogenCreateRequests are createRequests for the ogen client.
var ogenCreateRequests = func() []ogengen.CreateTaskRequest {
	callback, err := url.Parse("https://myserver.com/send/callback/here")
	if err != nil {
		panic(err)
	}
	return []ogengen.CreateTaskRequest{
		{SearchSettingID: 2, Target: ogengen.Target{Type: 1, Name: "王又曾",
			Birthday: ogengen.NewOptString("1990-06-21"), Citizenship: ogengen.NewOptString("TWN")},
			SearchSource: []int{0, 1, 2, 3, 4}, CallbackURL: ogengen.NewOptURI(*callback),
			CustomerReference: ogengen.NewOptString("000000123")},
		{SearchSettingID: 2, Target: ogengen.Target{Type: 2, Name: "KryptoGO Ltd."}, SearchSource: []int{4}},
	}
}()

// newOgenImpl is the ogen client with ogen's defaults (OpenTelemetry
// instrumentation on the global, no-op, providers).
func newOgenImpl(tb testing.TB, srv *loopback) impl {
	tb.Helper()
	hc := &http.Client{Transport: tunedTransport()}
	c, err := ogengen.NewClient(srv.URL, ogenKey{}, ogengen.WithClient(hc))
	if err != nil {
		tb.Fatal(err)
	}
	return impl{
		getTask: func(ctx context.Context, id string) (any, error) {
			return c.GetTask(ctx, ogengen.GetTaskParams{TaskID: id})
		},
		createTasks: func(ctx context.Context) (any, error) {
			return c.CreateTasks(ctx, ogenCreateRequests)
		},
		getKYA: func(ctx context.Context, id string) (any, error) {
			return c.GetKYA(ctx, ogengen.GetKYAParams{KyaID: id})
		},
		closeIdle: hc.CloseIdleConnections,
	}
}

// newLimit is the physical limit: the same requests on the same transport,
// the answer read to its end and not decoded. It returns the bytes read.
func newLimit(srv *loopback) impl {
	hc := &http.Client{Transport: tunedTransport()}
	createBody := mustJSON(createRequests)
	read := func(ctx context.Context, method, url string, body []byte) (any, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("GOFACT-API-TOKEN", apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errStatus(resp.StatusCode)
		}
		return n, err
	}
	return impl{
		getTask: func(ctx context.Context, id string) (any, error) {
			return read(ctx, http.MethodGet, srv.URL+"/task/"+id, nil)
		},
		createTasks: func(ctx context.Context) (any, error) {
			return read(ctx, http.MethodPost, srv.URL+"/task", createBody)
		},
		getKYA: func(ctx context.Context, id string) (any, error) {
			return read(ctx, http.MethodGet, srv.URL+"/kya/detail/"+id, nil)
		},
		closeIdle: hc.CloseIdleConnections,
	}
}
