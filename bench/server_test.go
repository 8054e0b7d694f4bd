package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// apiKey is the key every implementation sends.
const apiKey = "bench-key-0123456789"

// The ids the loopback server answers, one per recorded body.
const (
	smallTaskID  = "12345" // testdata/task_detail.json, 1.2 KB
	bigTaskID    = "99999" // the same detail with a result of about 1 MB of hits
	nestedTaskID = "12346" // testdata/task_detail_nested_sources.json
	summaryID    = "123"   // testdata/callback_task.json, for callback re-fetches
	kyaID        = "12"    // testdata/kya_result.json
	bigResultLen = 1 << 20 // the size the 1 MB result reaches at least
	signedHost   = "hooks.example.com"
	callbackPath = "/kryptogo/callback"
	customerRef  = "000000123" // the customer_reference of testdata/callback_task.json
)

// fixture reads a recorded body from the SDK's testdata.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// bigTaskDetail is the 1.2 KB task detail with its result replaced by about
// 1 MB of search hits. It is built the same way every time: hits differ by
// their index only, and carry what real search results do (non-ASCII text,
// escaped quotes, URLs, numbers, nested arrays).
func bigTaskDetail(tb testing.TB) []byte {
	tb.Helper()
	small := fixture(tb, "task_detail.json")
	const placeholder = `"result": {"undocumented": {"hits": 3}}`
	if !bytes.Contains(small, []byte(placeholder)) {
		tb.Fatalf("testdata/task_detail.json no longer holds %s", placeholder)
	}
	result := []byte(`{"hits": [`)
	for i := 0; len(result) < bigResultLen; i++ {
		if i > 0 {
			result = append(result, ',')
		}
		result = fmt.Appendf(result, `{"source": %d, "rank": %d, "score": 0.%04d, `+
			`"title": "王又曾 named in report #%d on \"cross-border\" transfers", `+
			`"url": "https://news.example.com/2023/11/article-%d?ref=kyc&lang=zh-TW", `+
			`"snippet": "The court heard that the company, run by 王又曾, moved funds through accounts in three countries between 2019 and 2021 \u2014 case %d.", `+
			`"published_at": %d, "keywords": ["fraud", "money laundering", "sanction"], "matched": %t}`,
			i%5, i, (i*37)%10000, i, i, i, 1700000000+i*60, i%3 == 0)
	}
	result = append(result, "]}"...)
	return bytes.Replace(small, []byte(placeholder), append([]byte(`"result": `), result...), 1)
}

// loopback is the one server every benchmark calls: it answers each known
// path with its recorded body after draining the request, and counts the
// connections it accepted.
type loopback struct {
	*httptest.Server
	routes map[string]route
	conns  atomic.Int64
}

type route struct {
	method string
	body   []byte
	length string // Content-Length, formatted once
}

// newLoopback starts the server with the recorded bodies of the benchmarks.
func newLoopback(tb testing.TB) *loopback {
	tb.Helper()
	l := &loopback{routes: map[string]route{}}
	l.add(http.MethodGet, "/task/"+smallTaskID, fixture(tb, "task_detail.json"))
	l.add(http.MethodGet, "/task/"+bigTaskID, bigTaskDetail(tb))
	l.add(http.MethodGet, "/task/"+nestedTaskID, fixture(tb, "task_detail_nested_sources.json"))
	l.add(http.MethodGet, "/task/"+summaryID+"/summary", fixture(tb, "callback_task.json"))
	l.add(http.MethodPost, "/task", fixture(tb, "task_create_response.json"))
	l.add(http.MethodGet, "/kya/detail/"+kyaID, fixture(tb, "kya_result.json"))
	l.Server = httptest.NewUnstartedServer(http.HandlerFunc(l.serve))
	l.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			l.conns.Add(1)
		}
	}
	l.Start()
	tb.Cleanup(l.Close)
	return l
}

func (l *loopback) add(method, path string, body []byte) {
	l.routes[path] = route{method: method, body: body, length: strconv.Itoa(len(body))}
}

func (l *loopback) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	rt, ok := l.routes[r.URL.Path]
	switch {
	case !ok:
		http.NotFound(w, r)
		return
	case r.Method != rt.method:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	case r.Header.Get("GOFACT-API-TOKEN") != apiKey:
		http.Error(w, `{"code": 401, "message": "bad key"}`, http.StatusUnauthorized)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{rt.length}
	_, _ = w.Write(rt.body)
}

// body returns the recorded body the server answers at path.
func (l *loopback) body(path string) []byte { return l.routes[path].body }
