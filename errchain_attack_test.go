package kryptogo

// Attack on issue 15's "no secret behind Unwrap": the calls a method makes
// on its own. CreateOnce looks a send in doubt up in the history with GET
// /tasks, a request that carries no personal value, so its errors were
// masked of the key alone; but they are the CreateOnce call's errors, and
// the server that was just sent the customer's name and birthday can quote
// them in its answer to the lookup.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateOnceLookupErrorMaskedOfTheRequest: the POST's answer is lost
// (the task may exist), and the lookup's 500 quotes what the POST sent;
// the error CreateOnce returns reveals neither the name nor the birthday.
func TestCreateOnceLookupErrorMaskedOfTheRequest(t *testing.T) {
	t.Parallel()
	var sent atomic.Value // the body of the POST, as the server remembers it
	sent.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			sent.Store(string(body))
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close() // the answer is lost: the task may exist
			}
			return
		}
		last := strings.ToUpper(sent.Load().(string))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Last-Request", last)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":`+jsonString("history unavailable; last request "+last)+`}`)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	c.sleep = func(context.Context, time.Duration) error { return nil }

	var info ResponseInfo
	_, err = c.Tasks.CreateOnce(t.Context(), chainTarget(), WithResponseInfo(&info))
	require.ErrorIs(t, err, ErrMaybeSent)
	require.ErrorIs(t, err, ErrServerError, "the lookup's failure is in the chain")
	require.Contains(t, sent.Load(), chainName, "the server was sent the name")
	upperName := strings.ToUpper(chainName) // as the server quotes it
	assertAbsent(t, chainExposure(err), testKey, upperName, chainBirthday)
	assert.NotEmpty(t, info.Header.Get("X-Last-Request"))
	assertAbsent(t, strings.Join(info.Header.Values("X-Last-Request"), "\n"), upperName, chainBirthday)
}
