package kryptogo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/kyabc/kryptogo-go/internal/redact"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIErrorBodyShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        []byte
		code        int
		message     string
		text        string
	}{
		{"code and message", 400, "application/json", fixture(t, "error_code_message.json"), 40001, "invalid search_setting_id",
			"kryptogo: GET /thing: 400 Bad Request (code 40001): invalid search_setting_id"},
		{"string code and msg", 404, "application/json", fixture(t, "error_msg.json"), 40401, "task not found",
			"kryptogo: GET /thing: 404 Not Found (code 40401): task not found"},
		{"error string", 401, "application/json", fixture(t, "error_error.json"), 0, "token expired",
			"kryptogo: GET /thing: 401 Unauthorized: token expired"},
		{"nested error", 429, "application/json", fixture(t, "error_nested.json"), 0, "too many requests, slow down",
			"kryptogo: GET /thing: 429 Too Many Requests: too many requests, slow down"},
		{"unknown JSON shape", 500, "application/json", fixture(t, "error_unknown_shape.json"), 0, `{"status": "failed"}`,
			`kryptogo: GET /thing: 500 Internal Server Error: {"status": "failed"}`},
		{"HTML from a proxy", 502, "text/html", fixture(t, "error_gateway.html"), 0, "HTML page: 502 Bad Gateway",
			"kryptogo: GET /thing: 502 Bad Gateway: HTML page: 502 Bad Gateway"},
		{"HTML without title", 503, "", []byte("<!DOCTYPE html><html><body><p>down</p></body></html>"), 0, "HTML page (52 bytes)",
			"kryptogo: GET /thing: 503 Service Unavailable: HTML page (52 bytes)"},
		{"plain text", 403, "text/plain", []byte("forbidden\n  by WAF\n"), 0, "forbidden by WAF",
			"kryptogo: GET /thing: 403 Forbidden: forbidden by WAF"},
		{"empty", 504, "", nil, 0, "", "kryptogo: GET /thing: 504 Gateway Timeout"},
		{"code only", 418, "application/json", []byte(`{"code": 7}`), 7, "", "kryptogo: GET /thing: 418 I'm a teapot (code 7)"},
		{"odd status", 599, "", nil, 0, "", "kryptogo: GET /thing: 599"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/thing", func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.Header().Set("X-Request-Id", "req-42")
				w.WriteHeader(tc.status)
				_, _ = w.Write(tc.body)
			})
			err := client.Do(t.Context(), "GET", "/thing", nil, nil)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr, tc.name)
			assert.Equal(t, tc.status, apiErr.StatusCode, tc.name)
			assert.Equal(t, tc.code, apiErr.Code, tc.name)
			assert.Equal(t, tc.message, apiErr.Message, tc.name)
			assert.Equal(t, string(tc.body), string(apiErr.Body), tc.name)
			assert.Equal(t, "req-42", apiErr.RequestID, tc.name)
			assert.Equal(t, tc.text+" [request id req-42]", apiErr.Error(), tc.name)
		})
	}
}

func TestAPIErrorSentinels(t *testing.T) {
	t.Parallel()
	sentinels := []error{ErrUnauthorized, ErrNotFound, ErrConflict, ErrRateLimited, ErrServerError}
	for status, want := range map[int]error{
		401: ErrUnauthorized, 403: ErrUnauthorized, 404: ErrNotFound, 409: ErrConflict,
		429: ErrRateLimited, 500: ErrServerError, 503: ErrServerError, 599: ErrServerError, 400: nil, 422: nil,
	} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			err := error(&APIError{StatusCode: status})
			for _, s := range sentinels {
				assert.Equal(t, s == want, errors.Is(err, s), "status %d vs %v", status, s)
			}
			assert.False(t, errors.Is(err, ErrInvalidRequest))
		})
	}
}

// A POST answered 5xx may have created its task before failing.
func TestAPIErrorMaybeSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		status int
		want   bool
	}{{"POST", 500, true}, {"POST", 502, true}, {"POST", 504, true}, {"POST", 409, false}, {"POST", 429, false}, {"GET", 502, false}, {"PUT", 500, false}} {
		t.Run(fmt.Sprintf("%s %d", tc.method, tc.status), func(t *testing.T) {
			err := &APIError{Method: tc.method, StatusCode: tc.status}
			assert.Equal(t, tc.want, errors.Is(err, ErrMaybeSent), "%s %d", tc.method, tc.status)
		})
	}
}

func TestAPIErrorBodyIsCapped(t *testing.T) {
	t.Parallel()
	big := make([]byte, maxErrorBody*2)
	for i := range big {
		big[i] = 'x'
	}
	e := newAPIError("GET", "/x", &http.Response{StatusCode: 500, Header: http.Header{}}, big, 0)
	assert.Len(t, e.Body, maxErrorBody)
	assert.LessOrEqual(t, len(e.Message), 210)
}

func TestValidationErrorListsEveryField(t *testing.T) {
	t.Parallel()
	err := &ValidationError{Fields: []FieldError{{"country", "is required"}, {"id_type", `"X" must be PASSPORT, DRIVING_LICENSE or ID_CARD`}}}
	assert.EqualError(t, err, `kryptogo: invalid request: country: is required; id_type: "X" must be PASSPORT, DRIVING_LICENSE or ID_CARD`)
	assert.ErrorIs(t, err, ErrInvalidRequest)
	f, ok := err.Field("id_type")
	assert.True(t, ok)
	assert.Contains(t, f.Message, "PASSPORT")
	_, ok = err.Field("nope")
	assert.False(t, ok)
}

func TestResponseError(t *testing.T) {
	t.Parallel()
	err := &ResponseError{Method: "GET", Path: "/kya/detail/1", StatusCode: 200, Snippet: "6 bytes, markup (HTML or XML)", Err: errors.New("invalid JSON at byte 1")}
	assert.EqualError(t, err, `kryptogo: GET /kya/detail/1: 200: unexpected response: invalid JSON at byte 1 (body: 6 bytes, markup (HTML or XML))`)
	assert.ErrorIs(t, err, ErrInvalidResponse)
}

func TestWaitErrorText(t *testing.T) {
	t.Parallel()
	err := &WaitError{ID: 3, Polls: 2, Err: context.Canceled, kind: "IDV task"}
	assert.EqualError(t, err, "kryptogo: waiting for IDV task 3 after 2 polls (no state fetched): context canceled")
	assert.ErrorIs(t, err, context.Canceled)
}

// escapeAll spells every character of s as a JSON \uXXXX escape.
func escapeAll(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// Issue 8, item 4: a body or a header that echoes the key, in any spelling,
// must not bring it into an APIError.
func TestAPIErrorNeverHoldsTheKey(t *testing.T) {
	t.Parallel()
	const oddKey = "sk/live&7f3a<9c>1e-SECRET"
	for _, key := range []string{testKey, oddKey} {
		jsonKey, _ := json.Marshal(key) // & < > as \u0026 \u003c \u003e
		inner := strings.Trim(string(jsonKey), `"`)
		for _, tc := range []struct {
			name        string
			contentType string
			body        string
			header      string // the X-Request-Id the server sends
		}{
			{"raw in the message", "application/json", `{"message":"bad key ` + key + `"}`, ""},
			{"JSON escaped", "application/json", `{"message":"bad key ` + inner + `"}`, ""},
			{"slashes escaped", "application/json", `{"msg":"` + strings.ReplaceAll(inner, "/", `\/`) + `"}`, ""},
			{"every char escaped", "application/json", `{"error":{"message":"` + escapeAll(key) + `"}}`, ""},
			{"half escaped, in a key", "application/json", `{"` + escapeAll(key[:4]) + key[4:] + `":1,"code":7}`, ""},
			{"HTML entities", "text/html", "<html><title>bad " + html.EscapeString(key) + "</title></html>", ""},
			{"numeric entities", "text/html", "<html><title>bad &#" + fmt.Sprint(int(key[0])) + ";" + key[1:] + "</title></html>", ""},
			{"plain text", "text/plain", "echo: " + key, ""},
			{"request id header", "", "", key},
			{"request id URL-escaped", "", "", url.QueryEscape(key)},
			{"request id JSON-escaped", "", "", escapeAll(key)},
			{"cut at the cap, raw", "text/plain", strings.Repeat("x", maxErrorBody-5) + key, ""},
			{"cut at the cap, escaped", "application/json", `{"message":"` + strings.Repeat("x", maxErrorBody-20) + escapeAll(key) + `"}`, ""},
		} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, key[:3]), func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.header != "" {
						w.Header().Set("X-Request-Id", tc.header)
					}
					w.Header().Set("Content-Type", tc.contentType)
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, tc.body)
				}))
				defer srv.Close()
				client, err := NewClient(key, WithBaseURL(srv.URL), WithMaxRetries(0))
				require.NoError(t, err)
				err = client.Do(t.Context(), "GET", "/thing", nil, nil)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				for _, out := range []string{err.Error(), apiErr.Message, apiErr.RequestID, string(apiErr.Body), fmt.Sprintf("%+v", apiErr)} {
					assertNoKey(t, out, key)
				}
				assert.LessOrEqual(t, len(apiErr.Body), maxErrorBody)
			})
		}
	}
}

// assertNoKey checks out for the key raw, escaped, or a long piece of it.
func assertNoKey(t *testing.T, out, key string) {
	t.Helper()
	jsonKey, _ := json.Marshal(key)
	for _, spelling := range []string{key, strings.Trim(string(jsonKey), `"`), escapeAll(key), html.EscapeString(key), url.QueryEscape(key), key[:len(key)-3], key[3:]} {
		assert.NotContains(t, out, spelling)
	}
	assert.NotContains(t, out, escapeAll(key)[:len(escapeAll(key))-12], "an escaped prefix")
}

// fuzzName is the personal value FuzzParseAPIError's requests carry.
const fuzzName = "John Doe"

// FuzzParseAPIError: any error answer gives an *APIError without a panic,
// with a bounded body and message, and without the key in any spelling
// that decodes to it.
func FuzzParseAPIError(f *testing.F) {
	f.Add(400, []byte(`{"code":40001,"message":"invalid search_setting_id"}`), "application/json", "req-42", false)
	f.Add(502, []byte("<html><title>502 Bad Gateway</title></html>"), "text/html", "", false)
	f.Add(400, []byte(`{"message":"`+escapeAll(testKey)+`"}`), "application/json", url.QueryEscape(testKey), false)
	f.Add(401, []byte(`{"error":{"message":"`+testKey[:10]), "application/json", "", true)
	f.Add(500, []byte("<h1>&#115;"+testKey[1:]+"</h1>"), "", testKey, false)
	f.Add(307, []byte(nil), "", "", false)
	client, err := NewClient(testKey)
	require.NoError(f, err)
	secret, name := redact.New(testKey), redact.New(fuzzName)
	f.Add(400, []byte(`{"message":"target `+fuzzName+` is listed"}`), "application/json", "", false)
	f.Fuzz(func(t *testing.T, status int, body []byte, contentType, requestID string, truncated bool) {
		header := http.Header{"Content-Type": {contentType}, "X-Request-Id": {requestID}, "Location": {requestID}}
		e := apiError(client.cfg.maxBody, "GET", "/thing", result{status: status, header: header, body: body, truncated: truncated}, &callMask{c: client, personal: []string{fuzzName}})
		for _, out := range []string{e.Error(), string(e.Body), e.Message, e.RequestID} {
			if secret.Leaks(out) || name.Leaks(out) {
				t.Fatalf("the key or the name leaks: %q", out)
			}
		}
		if len(e.Body) > max(len(body), len(withheld)) || len(e.Message) > 520 {
			t.Fatalf("unbounded: body %d bytes, message %d bytes", len(e.Body), len(e.Message))
		}
	})
}

// entityEscape spells every character of s as an HTML numeric entity.
func entityEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, "&#%d;", r)
	}
	return b.String()
}

// decodedForms returns out decoded up to six layers deep (HTML entities,
// \u and \/ escapes, URL escapes), every layer kept.
func decodedForms(out string) []string {
	forms := []string{out}
	for range 6 {
		next := html.UnescapeString(strings.ReplaceAll(out, `\/`, "/"))
		if unq, err := strconv.Unquote(`"` + strings.ReplaceAll(next, `"`, `\"`) + `"`); err == nil {
			next = unq
		}
		if u, err := url.QueryUnescape(next); err == nil {
			next = u
		}
		if next == out {
			break
		}
		out = next
		forms = append(forms, out)
	}
	return forms
}

// assertKeyGone checks every decoded form of out for the key, for three
// quarters of it, and for its base64.
func assertKeyGone(t *testing.T, out, key string) {
	t.Helper()
	for _, form := range decodedForms(out) {
		if !assert.NotContains(t, form, key[:len(key)*3/4], "most of the key survives") {
			return
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		b64 := enc.EncodeToString([]byte(key))
		assert.NotContains(t, out, b64[:len(b64)-4], "base64 of the key survives")
	}
}

// Review of issue 8, finding 7: the key survived the 64 KiB cut of an error
// body when spelled in entities or \u escapes and cut mid-spelling; base64,
// four layers of entities and tags splitting it got through too.
func TestAPIErrorKeyEchoSpellings(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxErrorBody)
	atCut := func(spelling string) string { return big[:maxErrorBody-len(spelling)+6] + spelling + "tail" }
	mixedEscapes := func(s string) string {
		var b strings.Builder
		for i, r := range s {
			if i%2 == 0 {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
		return b.String()
	}
	html4 := strings.ReplaceAll(entityEscape(testKey), "&", "&amp;amp;amp;")
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"entities at the cut", 500, nil, atCut(entityEscape(testKey))},
		{"escapes at the cut", 500, nil, atCut(mixedEscapes(testKey))},
		{"four layers of entities at the cut", 500, nil, atCut(html4)},
		{"base64", 400, nil, `{"message":"bad token ` + base64.StdEncoding.EncodeToString([]byte(testKey)) + `"}`},
		{"base64 url raw", 400, nil, `bad token ` + base64.RawURLEncoding.EncodeToString([]byte(testKey))},
		{"base64 shifted", 400, nil, `token ` + base64.StdEncoding.EncodeToString([]byte("Bearer "+testKey))},
		{"four layers of entities", 400, nil, `bad token ` + html4},
		{"JSON in JSON", 400, nil, `{"error":"{\"token\":\"` + mixedEscapes(testKey) + `\"}"}`},
		{"request id in base64", 400, http.Header{"X-Request-Id": {base64.StdEncoding.EncodeToString([]byte(testKey))}}, `{}`},
		{"location", 302, http.Header{"Location": {"https://" + testKey + ".evil.example/x"}}, ``},
		{"HTML title in entities", 502, http.Header{"Content-Type": {"text/html"}}, `<html><title>` + entityEscape(testKey) + `</title></html>`},
		{"URL-encoded entities in JSON", 400, nil, `{"message":"` + strings.ReplaceAll(entityEscape(testKey), "&#", "%26%23") + `"}`},
		{"key split by a tag", 502, http.Header{"Content-Type": {"text/html"}}, `<title>` + testKey[:10] + `<b></b>` + testKey[10:] + `</title>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			client, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
			require.NoError(t, err)
			_, err = client.Tasks.Summary(t.Context(), 1)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.LessOrEqual(t, len(apiErr.Body), maxErrorBody)
			for _, out := range []string{printed(err), apiErr.Message, apiErr.RequestID, string(apiErr.Body)} {
				assertKeyGone(t, out, testKey)
			}
		})
	}
}

// TestAPIErrorMaybeSentSaysToCheck: the message of a POST that may have
// reached the API says to check before re-sending (DESIGN); any other
// error keeps the documented format.
func TestAPIErrorMaybeSentSaysToCheck(t *testing.T) {
	t.Parallel()
	const hint = " (the request may have reached the API; check before sending it again)"
	tests := map[string]struct {
		err  APIError
		want string
	}{
		"POST 500": {APIError{StatusCode: 500, Method: "POST", Path: "/task", Message: "boom"},
			"kryptogo: POST /task: 500 Internal Server Error: boom" + hint},
		"POST 302 with request id": {APIError{StatusCode: 302, Method: "POST", Path: "/task", Message: "redirect not followed", RequestID: "r1"},
			"kryptogo: POST /task: 302 Found: redirect not followed [request id r1]" + hint},
		"POST 409": {APIError{StatusCode: 409, Method: "POST", Path: "/task/12/accepted", Message: "already accepted"},
			"kryptogo: POST /task/12/accepted: 409 Conflict: already accepted"},
		"GET 500": {APIError{StatusCode: 500, Method: "GET", Path: "/tasks", Message: "boom"},
			"kryptogo: GET /tasks: 500 Internal Server Error: boom"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
			assert.Equal(t, strings.HasSuffix(tc.want, hint), errors.Is(&tc.err, ErrMaybeSent))
		})
	}
}

// TestOneLine: a request id, which is most often a plain token, is kept as
// it is without being rebuilt; any other text is folded and cut as before.
func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain token", "5f0c6a2e-8a4b-4d0e-9b1f-2c3d4e5f6a7b", 200, "5f0c6a2e-8a4b-4d0e-9b1f-2c3d4e5f6a7b"},
		{"token of exactly n bytes", "abcdef", 6, "abcdef"},
		{"token over n bytes is cut", "abcdefgh", 6, "abcdef…"},
		{"empty", "", 200, ""},
		{"spaces folded", "  a \t b\r\nc  ", 200, "a b c"},
		{"control byte is white space", "a\x0bb", 200, "a b"},
		{"non-ASCII kept", "réq-1", 200, "réq-1"},
		{"cut on a rune boundary", "ééé", 3, "é…"},
		{"DEL kept", "a\x7fb", 200, "a\x7fb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, oneLine(tc.in, tc.n))
		})
	}
}
