package kryptogo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestServiceBodiesWithoutPersonalValues guards the nil that KYA.Create,
// SetAccepted and SetMetadata pass as their personal values: their bodies
// hold none of the keys Do would find personal values under.
func TestServiceBodiesWithoutPersonalValues(t *testing.T) {
	t.Parallel()
	bodies := map[string]any{
		"KYA.Create":  CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", Chain: ChainETH},
		"SetAccepted": SetAcceptedRequest{Comment: "Jane Doe checked", Accepted: true},
		"SetMetadata": []Metadata{{Key: "name", Value: "Jane Doe"}},
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			encoded, err := json.Marshal(body)
			require.NoError(t, err)
			assert.Empty(t, personalValuesInJSON(encoded))
		})
	}
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

// TestCallMaskReach checks that the reach found from the secrets' lengths
// is the reach of the scrubber the call would build: bodyLimit reads an
// error answer this far past its cap so that masking sees every spelling
// that straddles the cut.
func TestCallMaskReach(t *testing.T) {
	t.Parallel()
	c, err := NewClient(testKey)
	require.NoError(t, err)
	cases := map[string][]string{
		"none":          nil,
		"too short":     {"Al", "  Bo  "},
		"shorter":       {"Jane Doe"},
		"longer":        {strings.Repeat("Jane Doe ", 20)},
		"padded":        {"  Jo  ", "1990-01-01"},
		"several, mix":  {"A", "Jane Doe", strings.Repeat("x", 300), "1990-01-01"},
		"unicode":       {"王小明先生的名字"},
		"blank":         {"   "},
		"empty and key": {"", testKey},
	}
	for name, personal := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := c.scrubber(personal).m.Reach()
			mask := &callMask{c: c, personal: personal}
			assert.Equal(t, want, mask.reach())
			assert.Nil(t, mask.built.m, "reach must not build the scrubber")
		})
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

// TestParseCallbackFraming: the record decodes the body itself, so the
// framing json.Unmarshal checked must still be checked: white space around
// the object is not part of RawJSON, anything else after it is an error.
func TestParseCallbackFraming(t *testing.T) {
	t.Parallel()
	const task = `{"task_id": 7}`
	event, err := ParseCallback([]byte(" \r\n\t" + task + "\n "))
	require.NoError(t, err)
	assert.JSONEq(t, task, string(event.RawJSON()))
	assert.Equal(t, task, string(event.RawJSON()))
	for _, body := range []string{task + " x", task + task, task + "\v", `{"task_id": 7`} {
		_, err := ParseCallback([]byte(body))
		assert.ErrorIs(t, err, ErrInvalidCallback, body)
		_, err = ParseTaskCallback([]byte(body))
		assert.ErrorIs(t, err, ErrInvalidCallback, body)
	}
}
