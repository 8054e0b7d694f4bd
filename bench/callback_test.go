package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// callbackSecret signs the callback URLs of the benchmarks.
var callbackSecret = bytes.Repeat([]byte("s"), 32)

// BenchmarkCallback is one task callback through a handler, called
// directly (no network for the callback itself), per kind of check:
//
//   - verify=signer: the URL's signature and the record's customer. The
//     SDK's CallbackHandler with a Signer against a hand-written handler
//     (HMAC check of the URL, json.Unmarshal, customer check).
//   - verify=refetch: the same, and the record re-fetched from the API
//     (GET /task/{task_id}/summary on the loopback server) and handed on
//     instead of the body. The SDK's handler with Signer and Confirm
//     against the hand-written handler that also re-fetches.
func BenchmarkCallback(b *testing.B) {
	srv := newLoopback(b)
	body := srv.body("/task/" + summaryID + "/summary")
	for _, verify := range []string{"signer", "refetch"} {
		b.Run("verify="+verify, func(b *testing.B) {
			for _, name := range []string{implHand, implSDK} {
				b.Run("impl="+name, func(b *testing.B) {
					h, sign := callbackHandler(b, name, verify == "refetch", srv)
					runCallbacks(b, h, sign(customerRef), body)
				})
			}
		})
	}
}

// callbackHandler builds the named handler and the function that signs the
// callback URL for a customer.
func callbackHandler(tb testing.TB, name string, refetch bool, srv *loopback) (http.Handler, func(ref string) string) {
	tb.Helper()
	if name == implHand {
		h := &handCallback{secret: callbackSecret, onTask: func(*handTaskSummary) error { return nil }}
		if refetch {
			h.api = &http.Client{Transport: tunedTransport()}
			h.baseURL = srv.URL
			tb.Cleanup(h.api.CloseIdleConnections)
		}
		return h, func(ref string) string { return h.signURL("https://"+signedHost+callbackPath, ref) }
	}
	signer, err := kryptogo.NewCallbackSigner(callbackSecret)
	if err != nil {
		tb.Fatal(err)
	}
	h := &kryptogo.CallbackHandler{
		Signer: signer,
		OnTask: func(context.Context, *kryptogo.TaskSummary) error { return nil },
		Logger: slog.New(slog.DiscardHandler),
	}
	if refetch {
		// The caps on confirmations (DefaultConfirmRate) would answer 503
		// to a loop of callbacks: lifted, so the loop measures the cost of
		// one, as the hand-written handler, which has none, does.
		h.ConfirmRate, h.ConfirmBurst = 1e9, 1000
		h.Confirm = newSDKClient(tb, srv)
		tb.Cleanup(h.Confirm.CloseIdleConnections)
	}
	return h, func(ref string) string {
		target, err := signer.SignURL("https://"+signedHost+callbackPath, ref)
		if err != nil {
			tb.Fatal(err)
		}
		return target
	}
}

// runCallbacks sends body to h as a POST to target, once per iteration,
// and fails unless h answers 204. The request and the writer are reused,
// so that the loop measures the handler.
func runCallbacks(b *testing.B, h http.Handler, target string, body []byte) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, target, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	rd := &replayBody{}
	req.Body = rd
	req.ContentLength = int64(len(body)) // as a server sees a sender's Content-Length
	w := &sinkWriter{h: http.Header{}}
	serve := func() {
		rd.Reset(body)
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusNoContent {
			b.Fatalf("status %d, want 204", w.status)
		}
	}
	serve()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		serve()
	}
	// The process's CPU, the loopback server's share of a re-fetch alike
	// for both handlers: steadier than wall time on a shared machine.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// replayBody is a request body that can be read again after Reset.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

// sinkWriter is a ResponseWriter that keeps the status only.
type sinkWriter struct {
	h      http.Header
	status int
}

func (w *sinkWriter) Header() http.Header { return w.h }

func (w *sinkWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// handCallback is the callback handler a careful user writes without the
// SDK: the callback URL carries the customer reference and an HMAC of the
// host, path and reference; the record must be of that customer; with api
// set, the record is re-fetched from the API and must be the same task of
// the same customer.
type handCallback struct {
	secret  []byte
	api     *http.Client // re-fetches when set
	baseURL string
	onTask  func(*handTaskSummary) error
}

func (h *handCallback) mac(host, path, ref string) []byte {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(host + "\n" + path + "\n" + ref))
	return m.Sum(nil)
}

// signURL adds ref and its signature to a callback URL.
func (h *handCallback) signURL(callbackURL, ref string) string {
	u, err := url.Parse(callbackURL)
	if err != nil {
		panic(err)
	}
	u.RawQuery = url.Values{"ref": {ref}, "sig": {hex.EncodeToString(h.mac(u.Host, u.Path, ref))}}.Encode()
	return u.String()
}

func (h *handCallback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "bad query", http.StatusUnauthorized)
		return
	}
	ref := query.Get("ref")
	sig, err := hex.DecodeString(query.Get("sig"))
	if err != nil || ref == "" || !hmac.Equal(sig, h.mac(r.Host, r.URL.Path, ref)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	task := new(handTaskSummary)
	if err := json.Unmarshal(body, task); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if task.CustomerReference != ref {
		http.Error(w, "another customer's record", http.StatusForbidden)
		return
	}
	if h.api != nil {
		if task, err = h.refetch(r.Context(), task.TaskID); err != nil {
			http.Error(w, "re-fetch failed", http.StatusServiceUnavailable)
			return
		}
		if task.CustomerReference != ref {
			http.Error(w, "another customer's record", http.StatusForbidden)
			return
		}
	}
	if err := h.onTask(task); err != nil {
		http.Error(w, "handler failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handCallback) refetch(ctx context.Context, id int64) (*handTaskSummary, error) {
	task := new(handTaskSummary)
	err := handDo(ctx, h.api, http.MethodGet, h.baseURL+"/task/"+strconv.FormatInt(id, 10)+"/summary", nil, task)
	if err == nil && task.TaskID != id {
		err = errors.New("the API answered another task")
	}
	return task, err
}
