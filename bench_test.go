package kryptogo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
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
