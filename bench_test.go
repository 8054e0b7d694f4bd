package kryptogo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// benchImage is a 3 MiB "photo": a real PNG header (the checks read only
// the header) followed by incompressible bytes.
func benchImage(b *testing.B) []byte {
	img := pngHeader(2400, 1600)
	pad := make([]byte, 3<<20)
	_, _ = rand.Read(pad)
	return append(img, pad...)
}

// BenchmarkIDVCreateBody compares the streamed request body of IDV.Create
// with the baseline of building it in memory (base64 strings in a struct,
// then json.Marshal), for four 3 MiB images. The streamed body should
// allocate a small constant, the baseline several times the images' size:
//
//	go test -bench IDVCreateBody -benchmem -run '^$' .
func BenchmarkIDVCreateBody(b *testing.B) {
	img := benchImage(b)
	req := &CreateIDVRequest{
		Country: "TWN", IDType: IDTypeIDCard,
		IDImage: ImageFromBytes(img), IDBackImage: ImageFromBytes(img),
		FaceImage: ImageFromBytes(img), IDAndFaceImage: ImageFromBytes(img),
	}
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(4 * len(img)))
		for b.Loop() {
			body, err := req.body()
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, body.open())
			if err != nil || n != body.length {
				b.Fatalf("copied %d of %d bytes: %v", n, body.length, err)
			}
		}
	})
	b.Run("baseline_marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(4 * len(img)))
		for b.Loop() {
			enc := base64.StdEncoding.EncodeToString(img)
			out, err := json.Marshal(map[string]string{
				"country": "TWN", "id_type": "ID_CARD",
				"id_image": enc, "id_back_image": enc, "face_image": enc, "id_and_face_image": enc,
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, bytes.NewReader(out)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// wordsBody is an answer of n bytes of short words ("ab ab ab …"), the
// shape that once made the error snippet allocate 12 times the cap. It
// allocates nothing itself and hides its length, as a chunked answer does.
type wordsBody struct{ left int64 }

func (w *wordsBody) Read(p []byte) (int, error) {
	if w.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), w.left))
	for i := range p[:n] {
		p[i] = "ab "[i%3]
	}
	w.left -= int64(n)
	return n, nil
}

// allocRatio reports the bytes allocated per operation divided by unit.
func allocRatio(b *testing.B, unit int64, op func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		op()
		n++
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n)/float64(unit), "alloc/size")
}

// BenchmarkReadOverCap reads a 48 MiB answer of unknown length under the
// default 32 MiB cap: the SDK reads it into pooled blocks and keeps only
// its head, so a warm run allocates a few percent of the cap (a cold
// process about the cap once: TestColdAllocation; alloc/size is per cap);
// the baseline io.ReadAll of a LimitReader, what the SDK did before, 2.3-3.6
// times it:
//
//	go test -bench ReadOverCap -benchmem -run '^$' .
func BenchmarkReadOverCap(b *testing.B) {
	const limit = DefaultMaxResponseBytes
	b.Run("sdk", func(b *testing.B) {
		allocRatio(b, limit, func() {
			if _, truncated, err := readBody(&wordsBody{left: 48 << 20}, -1, bodyCap{limit: limit, keep: overCapHead}); !truncated || err != nil {
				b.Fatal(truncated, err)
			}
		})
	})
	b.Run("baseline_readall", func(b *testing.B) {
		allocRatio(b, limit, func() {
			if _, err := io.ReadAll(io.LimitReader(&wordsBody{left: 48 << 20}, limit+1)); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkReadBody reads ordinary answers, with and without a declared
// length: the SDK allocates about the body's size (goal ≤ 1.1× warm;
// alloc/size is per body byte; cold: TestColdAllocation), the baseline
// io.ReadAll more:
//
//	go test -bench ReadBody -benchmem -run '^$' .
func BenchmarkReadBody(b *testing.B) {
	for _, size := range []int64{4 << 10, 256 << 10, 4 << 20} {
		for _, known := range []bool{true, false} {
			length := int64(-1)
			if known {
				length = size
			}
			name := fmt.Sprintf("%dKiB/length_known=%t", size>>10, known)
			b.Run(name+"/sdk", func(b *testing.B) {
				allocRatio(b, size, func() {
					if body, _, err := readBody(&wordsBody{left: size}, length, wholeCap(DefaultMaxResponseBytes)); err != nil || int64(len(body)) != size {
						b.Fatal(len(body), err)
					}
				})
			})
			b.Run(name+"/baseline_readall", func(b *testing.B) {
				allocRatio(b, size, func() {
					if body, err := io.ReadAll(&wordsBody{left: size}); err != nil || int64(len(body)) != size {
						b.Fatal(len(body), err)
					}
				})
			})
		}
	}
}

// bodyTransport answers every request with status and an n-byte body of
// short words of unknown length, without a network.
type bodyTransport struct {
	status int
	n      int64
}

func (t bodyTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: t.status, Header: http.Header{}, ContentLength: -1,
		Body: io.NopCloser(&wordsBody{left: t.n})}, nil
}

// BenchmarkOverCapCall runs one GET whose 48 MiB answer is over the cap, as
// a 200 and as a 500 (retried twice), through the whole request path; the
// error snippet once made these allocate 394 MiB and 1.18 GiB. The baseline
// is the bare io.ReadAll of one capped answer. alloc/size is per cap:
//
//	go test -bench OverCapCall -benchmem -run '^$' .
func BenchmarkOverCapCall(b *testing.B) {
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		b.Run(fmt.Sprintf("sdk_%d", status), func(b *testing.B) {
			client, err := NewClient(testKey, WithHTTPClient(&http.Client{Transport: bodyTransport{status, 48 << 20}}))
			if err != nil {
				b.Fatal(err)
			}
			client.sleep = func(context.Context, time.Duration) error { return nil }
			allocRatio(b, DefaultMaxResponseBytes, func() {
				if err := client.Do(b.Context(), "GET", "/x", nil, new(json.RawMessage)); err == nil {
					b.Fatal("no error")
				}
			})
		})
	}
	b.Run("baseline_readall", func(b *testing.B) {
		allocRatio(b, DefaultMaxResponseBytes, func() {
			_, _ = io.ReadAll(io.LimitReader(&wordsBody{left: 48 << 20}, DefaultMaxResponseBytes+1))
		})
	})
}

// The benchmarks of issue 9 compare a call through the SDK with what a
// careful user would write by hand, side by side in one run; the pairs'
// names are stable so that scripts/bench.sh can compare them with
// benchstat:
//
//	scripts/bench.sh

// benchFixture reads a fixture of testdata for a benchmark.
func benchFixture(b *testing.B, name string) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchServer is a loopback server that answers every request with body
// after draining the request, and counts the connections it accepted.
type benchServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newBenchServer(b *testing.B, body []byte) *benchServer {
	b.Helper()
	s := &benchServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	b.Cleanup(s.Close)
	return s
}

func benchClient(b *testing.B, baseURL string) *Client {
	b.Helper()
	c, err := NewClient(testKey, WithBaseURL(baseURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// rawTransport is the transport a careful hand-written client would use:
// net/http's defaults with enough idle connections for one busy host.
func rawTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	return t
}

// rawGet is the hand-written call: a GET with the key, a status check and
// a json.Decoder into out.
func rawGet(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(DefaultAPIKeyHeader, testKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &APIError{StatusCode: resp.StatusCode}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body) // keep the connection reusable
	return err
}

// rawTarget, rawSearchSetting and rawTaskDetail are the plain structs a
// hand-written client would decode a task detail into.
type rawTarget struct {
	Type        int    `json:"type"`
	Name        string `json:"name"`
	Birthday    string `json:"birthday"`
	Citizenship string `json:"citizenship"`
}

type rawSearchSetting struct {
	Mode          int      `json:"mode"`
	TimeRangeYear int      `json:"time_range_year"`
	Language      string   `json:"language"`
	NegativeWords []string `json:"negative_words"`
	Sites         []string `json:"sites"`
	NumberOfPages int      `json:"number_of_pages"`
}

type rawTaskDetail struct {
	TaskID                 int64             `json:"task_id"`
	Target                 rawTarget         `json:"target"`
	SearchSetting          rawSearchSetting  `json:"search_setting"`
	SearchSource           []int             `json:"search_source"`
	CallbackURL            string            `json:"callback_url"`
	CustomerReference      string            `json:"customer_reference"`
	Result                 json.RawMessage   `json:"result"`
	SanctionMatched        bool              `json:"sanction_matched"`
	CompletedSource        int               `json:"completed_source"`
	PotentialRisk          int               `json:"potential_risk"`
	AuditStatus            int               `json:"audit_status"`
	Comment                string            `json:"comment"`
	AuditTime              int64             `json:"audit_time"`
	AuditorEmployeeID      int64             `json:"auditor_employee_id"`
	AuditorEmployeeName    string            `json:"auditor_employee_name"`
	AuditorEmployeeAccount string            `json:"auditor_employee_account"`
	EmployeeID             int64             `json:"employee_id"`
	EmployeeName           string            `json:"employee_name"`
	EmployeeAccount        string            `json:"employee_account"`
	CreationTime           int64             `json:"creation_time"`
	UpdateTime             int64             `json:"update_time"`
	CompletedTime          int64             `json:"completed_time"`
	FromIDVID              int64             `json:"from_idv_id"`
	CommentTime            *int64            `json:"comment_time"`
	CommentEmployeeID      *int64            `json:"comment_employee_id"`
	CommentEmployeeName    *string           `json:"comment_employee_name"`
	CommentEmployeeAccount *string           `json:"comment_employee_account"`
	Metadata               map[string]string `json:"metadata"`
	CommentLogs            json.RawMessage   `json:"comment_logs"`
	AMLSummarization       string            `json:"aml_summarization"`
	NextReviewAt           int64             `json:"next_review_at"`
}

type rawTaskSummary struct {
	TaskID            int64            `json:"task_id"`
	SearchSetting     rawSearchSetting `json:"search_setting"`
	Target            rawTarget        `json:"target"`
	CustomerReference string           `json:"customer_reference"`
	Progress          int              `json:"progress"`
	TaskOrigin        int              `json:"task_origin"`
	CreationTime      int64            `json:"creation_time"`
	UpdateTime        int64            `json:"update_time"`
	AuditTime         int64            `json:"audit_time"`
	Report            *struct {
		SanctionMatched bool   `json:"sanction_matched"`
		PotentialRisk   int    `json:"potential_risk"`
		URL             string `json:"url"`
		Accepted        *bool  `json:"accepted"`
		Comment         string `json:"comment"`
	} `json:"report"`
	Metadata []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"metadata"`
}

// BenchmarkTaskGet is one Tasks.Get of the full task-detail fixture from a
// loopback server: through the SDK, and through rawGet. Goal: sdk/raw
// ≤ 1.05 in time and ≤ 1.15 in allocations.
func BenchmarkTaskGet(b *testing.B) {
	srv := newBenchServer(b, benchFixture(b, "task_detail.json"))
	ctx := b.Context()
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, srv.URL)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Tasks.Get(ctx, 12345); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{Transport: rawTransport()}
		b.Cleanup(hc.CloseIdleConnections)
		b.ReportAllocs()
		for b.Loop() {
			var out rawTaskDetail
			if err := rawGet(ctx, hc, srv.URL+"/task/12345", &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// summaryCallers is how many goroutines share one client in
// BenchmarkSummaryParallel.
const summaryCallers = 64

// BenchmarkSummaryParallel runs Tasks.Summary from 64 goroutines sharing
// one client, and the same with rawGet, each against a fresh server. It
// reports requests per second and the connections the server accepted
// (goal: at most 64, one per caller).
func BenchmarkSummaryParallel(b *testing.B) {
	body := benchFixture(b, "task_summary.json")
	ctx := b.Context()
	b.Run("sdk", func(b *testing.B) {
		srv := newBenchServer(b, body)
		c := benchClient(b, srv.URL)
		runParallelCallers(b, srv, func() error {
			_, err := c.Tasks.Summary(ctx, 123)
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		srv := newBenchServer(b, body)
		hc := &http.Client{Transport: rawTransport()}
		b.Cleanup(hc.CloseIdleConnections)
		runParallelCallers(b, srv, func() error {
			var out rawTaskSummary
			return rawGet(ctx, hc, srv.URL+"/task/123/summary", &out)
		})
	})
}

func runParallelCallers(b *testing.B, srv *benchServer, call func() error) {
	b.ReportAllocs()
	b.SetParallelism((summaryCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	b.ReportMetric(float64(srv.conns.Load()), "conns")
}

// idvBenchImageSize is the size of each image of BenchmarkIDVCreate.
const idvBenchImageSize = 5 << 20

// BenchmarkIDVCreate uploads three 5 MiB images to a loopback server: with
// IDV.Create, which streams base64 into the request, and the naive way
// (base64 strings in memory, json.Marshal, one POST). It reports the bytes
// allocated per image byte (goal for the SDK: ≤ 0.10).
func BenchmarkIDVCreate(b *testing.B) {
	img := append(pngHeader(2400, 1600), make([]byte, idvBenchImageSize)...)
	img = img[:idvBenchImageSize]
	if _, err := rand.Read(img[64:]); err != nil {
		b.Fatal(err)
	}
	srv := newBenchServer(b, benchFixture(b, "idv_create_response.json"))
	ctx := b.Context()
	const images = 3
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, srv.URL)
		req := &CreateIDVRequest{Country: "TWN", IDType: IDTypeIDCard,
			IDImage: ImageFromBytes(img), IDBackImage: ImageFromBytes(img), FaceImage: ImageFromBytes(img)}
		b.SetBytes(images * idvBenchImageSize)
		allocRatio(b, images*idvBenchImageSize, func() {
			if _, err := c.IDV.Create(ctx, req); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("naive", func(b *testing.B) {
		hc := &http.Client{Transport: rawTransport()}
		b.Cleanup(hc.CloseIdleConnections)
		b.SetBytes(images * idvBenchImageSize)
		allocRatio(b, images*idvBenchImageSize, func() {
			if err := naiveIDVCreate(ctx, hc, srv.URL+"/idv", img); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// naiveIDVCreate builds the whole body in memory, as most hand-written
// clients do.
func naiveIDVCreate(ctx context.Context, hc *http.Client, url string, img []byte) error {
	enc := base64.StdEncoding.EncodeToString(img)
	body, err := json.Marshal(map[string]string{
		"country": "TWN", "id_type": "ID_CARD",
		"id_image": enc, "id_back_image": enc, "face_image": enc,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(DefaultAPIKeyHeader, testKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		IDVTaskID int64 `json:"idv_task_id"`
	}
	return json.NewDecoder(resp.Body).Decode(&out)
}

// BenchmarkKYACreate is one KYA.Create against a loopback server, the
// request path of a small SDK-built body: validation, encoding, masking
// setup, send and decode.
//
//	go test -run '^$' -bench 'KYACreate' -benchmem -count 3 .
func BenchmarkKYACreate(b *testing.B) {
	srv := newBenchServer(b, benchFixture(b, "kya_result.json"))
	c := benchClient(b, srv.URL)
	ctx := b.Context()
	req := &CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KYA.Create(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKYACreateRejected is one KYA.Create answered 429 with no retry:
// the path of a failed attempt (masking of the error body and the
// Retry-After header, both read for the error and the client-wide pause).
func BenchmarkKYACreateRejected(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"code":429,"message":"too many requests"}`))
	}))
	b.Cleanup(srv.Close)
	c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	c.sleep = func(context.Context, time.Duration) error { return nil } // the client-wide pause
	ctx := b.Context()
	req := &CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KYA.Create(ctx, req); err == nil {
			b.Fatal("no error")
		}
	}
}

// BenchmarkIDVCreateBase64 uploads three 5 MiB images given as base64
// strings: each image's payload should be decoded to check it once per
// call, not once per check. alloc/size is the bytes allocated per image
// byte.
func BenchmarkIDVCreateBase64(b *testing.B) {
	img := append(pngHeader(2400, 1600), make([]byte, idvBenchImageSize)...)
	img = img[:idvBenchImageSize]
	if _, err := rand.Read(img[64:]); err != nil {
		b.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(img)
	srv := newBenchServer(b, benchFixture(b, "idv_create_response.json"))
	c := benchClient(b, srv.URL)
	ctx := b.Context()
	const images = 3
	req := &CreateIDVRequest{Country: "TWN", IDType: IDTypeIDCard,
		IDImage: ImageFromBase64(enc), IDBackImage: ImageFromBase64(enc), FaceImage: ImageFromBase64(enc)}
	b.SetBytes(images * idvBenchImageSize)
	allocRatio(b, images*idvBenchImageSize, func() {
		if _, err := c.IDV.Create(ctx, req); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTaskCreateOne is one Tasks.CreateOne against a loopback server:
// the request is validated once, not again by Create.
func BenchmarkTaskCreateOne(b *testing.B) {
	srv := newBenchServer(b, []byte(`[{"task_id": 123, "timestamp": 1623859200}]`))
	c := benchClient(b, srv.URL)
	ctx := b.Context()
	req := CreateTaskRequest{SearchSettingID: 7, Target: KYBTarget("Acme Ltd."), CustomerReference: "c1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Tasks.CreateOne(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCallback parses the task and the IDV callback fixtures.
func BenchmarkParseCallback(b *testing.B) {
	for _, name := range []string{"callback_task.json", "callback_idv.json"} {
		body := benchFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ParseCallback(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTaskGetCallOptions compares a call without options (the
// client's configuration as is) with calls given per-call options, in one
// run: "none" must allocate no more than BenchmarkTaskGet/sdk, an option
// costs the copy of the configuration, and WithResponseInfo the masked copy
// of the answer's headers.
func BenchmarkTaskGetCallOptions(b *testing.B) {
	srv := newBenchServer(b, benchFixture(b, "task_detail.json"))
	c := benchClient(b, srv.URL)
	ctx := b.Context()
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Tasks.Get(ctx, 7); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("timeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Tasks.Get(ctx, 7, WithTimeout(time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("timeout+info", func(b *testing.B) {
		b.ReportAllocs()
		var info ResponseInfo
		for b.Loop() {
			if _, err := c.Tasks.Get(ctx, 7, WithTimeout(time.Minute), WithResponseInfo(&info)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallbackKindString: String runs for every logged or printed
// callback; its names are a package-level table, not a map built per call.
func BenchmarkCallbackKindString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = CallbackIDV.String()
	}
}

// BenchmarkScreen screens a batch against a fake with 50 ms of latency
// per answer, with KYA.Screen at concurrency 16 and, as the baseline in the
// same run, one Create after another. speedup is the baseline's time over
// Screen's (goal for 96 addresses: 12 or more; 16 is the ceiling):
//
//	go test -bench Screen -run '^$' .
func BenchmarkScreen(b *testing.B) {
	api := &kyaAPI{serve: func(http.ResponseWriter, string) bool {
		time.Sleep(50 * time.Millisecond) // the API's latency
		return false
	}}
	client := screenSetup(b, api)
	for _, n := range []int{96, 200} {
		reqs := ethAddresses(n)
		b.Run(fmt.Sprintf("addresses=%d", n), func(b *testing.B) {
			var screen, oneByOne time.Duration
			runs := 0
			for b.Loop() {
				screen += timed(func() { screenAll(b, client, reqs) })
				oneByOne += timed(func() { createOneByOne(b, client, reqs) })
				runs++
			}
			b.ReportMetric(screen.Seconds()/float64(runs), "s/screen_c16")
			b.ReportMetric(oneByOne.Seconds()/float64(runs), "s/one_by_one")
			b.ReportMetric(float64(oneByOne)/float64(screen), "speedup")
		})
	}
}

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func screenAll(b *testing.B, client *Client, reqs []CreateKYARequest) {
	for _, r := range client.KYA.Screen(b.Context(), reqs, &ScreenOptions{Concurrency: 16}) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

func createOneByOne(b *testing.B, client *Client, reqs []CreateKYARequest) {
	for i := range reqs {
		if _, err := client.KYA.Create(b.Context(), &reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStorm sends 1,000 GETs from 40 goroutines into an API that
// answers every request 503, and reports the requests sent per call: with
// the default retry budget (goal: 1.25 or less) and, as the baseline, with
// the budget disabled (1 + WithMaxRetries' 2 = 3):
//
//	go test -bench Storm -run '^$' .
func BenchmarkStorm(b *testing.B) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	b.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		budget int
	}{{"budget=default", DefaultRetryBudget}, {"budget=off", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			requests.Store(0)
			calls := 0
			for b.Loop() {
				client, err := NewClient("k", WithBaseURL(srv.URL), WithRetryBudget(tc.budget),
					WithRetryBackoff(time.Millisecond, 2*time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				callMany(b.Context(), client, "/thing", 1000, 40)
				client.CloseIdleConnections()
				calls += 1000
			}
			b.ReportMetric(float64(requests.Load())/float64(calls), "requests/call")
		})
	}
}
