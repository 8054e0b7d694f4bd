package kryptogo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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
