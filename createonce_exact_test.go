package kryptogo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// testSigner is a signer with a fixed test secret.
func testSigner(t *testing.T) *kryptogo.CallbackSigner {
	signer, err := kryptogo.NewCallbackSigner([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return signer
}

// keyedTask is a KYC task of customer c1 searching Jane Roe under key,
// calling back callbackURL.
func keyedTask(key, callbackURL string) kryptogo.CreateTaskRequest {
	req := kycTask("c1", "Jane Roe")
	req.IdempotencyKey, req.CallbackURL = key, callbackURL
	return req
}

// sentCallbackURLs returns the callback_url of each task POSTed.
func sentCallbackURLs(t *testing.T, srv *kryptogotest.Server) []string {
	var out []string
	for _, req := range srv.Requests() {
		if req.Method != http.MethodPost || req.Path != "/task" {
			continue
		}
		var tasks []struct {
			CallbackURL string `json:"callback_url"`
		}
		require.NoError(t, json.Unmarshal(req.Body, &tasks))
		for _, task := range tasks {
			out = append(out, task.CallbackURL)
		}
	}
	return out
}

// digestOf returns the kg_idem of a callback URL.
func digestOf(t *testing.T, callbackURL string) []string {
	u, err := url.Parse(callbackURL)
	require.NoError(t, err)
	return u.Query()[kryptogo.IdempotencyParam]
}

func TestExactModeAddsTheKeysDigestToAnUnsignedCallbackURL(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1, kryptogotest.WithManualCompletion())
	_, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", "https://example.com/cb?order=1&x=%2F"))
	require.NoError(t, err)
	sent := sentCallbackURLs(t, r.srv)
	require.Len(t, sent, 1)
	assert.Regexp(t, `^https://example\.com/cb\?order=1&x=%2F&kg_idem=[A-Za-z0-9_-]{24}$`, sent[0], "appended, the rest as written")
	assert.NotContains(t, sent[0], "order-1", "the digest, never the key")

	// The same key and URL again, once signed by hand with the digest:
	// the same digest, and the same request.
	withDigest, err := kryptogo.IdempotencyCallbackURL("https://example.com/cb?order=1&x=%2F", "order-1")
	require.NoError(t, err)
	assert.Equal(t, sent[0], withDigest)
	_, err = r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", withDigest))
	require.NoError(t, err, "the same request")
	assert.Equal(t, 1, r.posts("/task"))

	// Without a key, the URL is sent as given.
	_, err = r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("", "https://example.com/cb"))
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/cb", sentCallbackURLs(t, r.srv)[1])
}

// Two keys for one customer and target, both in doubt: with their keys in
// the callback URLs, each finds the task it created, and the one whose
// request was lost sends it, though the other's task matches its target.
func TestExactModeTellsKeysOfOneTargetApart(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1, kryptogotest.WithManualCompletion())
	c := r.clients[0]
	first, lost := keyedTask("order-1", "https://example.com/cb"), keyedTask("order-2", "https://example.com/cb")
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err := c.Tasks.CreateOne(testCtx(t), first)
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	_, err = c.Tasks.CreateOne(testCtx(t), lost)
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	require.Len(t, r.srv.Tasks(), 1, "the first was created, the second lost")
	created := r.srv.Tasks()[0].TaskID

	got, err := c.Tasks.CreateOne(testCtx(t), lost)
	require.NoError(t, err)
	assert.NotEqual(t, created, got.TaskID, "not the other key's task")
	got, err = c.Tasks.CreateOne(testCtx(t), first)
	require.NoError(t, err)
	assert.Equal(t, created, got.TaskID, "its own")
	assert.Len(t, r.srv.Tasks(), 2)
	assert.Equal(t, 3, r.posts("/task"))
}

// A callback URL signed with the key's digest verifies, its Params carry
// the digest, and a create in doubt under it is found exactly.
func TestExactModeWithASignedCallbackURL(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	var mu sync.Mutex
	var events []*kryptogo.CallbackEvent
	receiver := httptest.NewServer(&kryptogo.CallbackHandler{Signer: signer, OnTask: func(ctx context.Context, _ *kryptogo.TaskSummary) error {
		e, _ := kryptogo.CallbackFromContext(ctx)
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
		return nil
	}})
	t.Cleanup(receiver.Close)
	withDigest, err := kryptogo.IdempotencyCallbackURL(receiver.URL+"/kryptogo?order=1", "order-1")
	require.NoError(t, err)
	signed, err := signer.SignURL(withDigest, "c1")
	require.NoError(t, err)

	r := newKeyRig(t, 1)
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err = r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", signed))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", signed))
	require.NoError(t, err)
	assert.Equal(t, r.srv.Tasks()[0].TaskID, got.TaskID)
	assert.Equal(t, []string{signed}, sentCallbackURLs(t, r.srv), "sent as signed")
	var detailReads int
	for _, req := range r.srv.Requests() {
		if req.Method == http.MethodGet && req.Path == "/task/"+got.TaskID.String() {
			detailReads++
		}
	}
	assert.Equal(t, 1, detailReads, "found by its callback_url")

	require.NoError(t, r.srv.WaitCallbacks(testCtx(t)))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, events, "the callback verified")
	assert.True(t, events[0].Verified)
	assert.Equal(t, digestOf(t, withDigest), events[0].Params[kryptogo.IdempotencyParam])
	assert.Equal(t, "1", events[0].Params.Get("order"))
}

// A URL signed without the digest is sent as signed (adding to it would
// break the signature), and the lookup matches by target.
func TestExactModeLeavesASignedURLAlone(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	signed, err := signer.SignURL("https://example.com/cb", "c1")
	require.NoError(t, err)
	r := newKeyRig(t, 1, kryptogotest.WithManualCompletion())
	r.srv.DropNextResponse(http.MethodPost, "/task", 1)
	_, err = r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", signed))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	got, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", signed))
	require.NoError(t, err)
	assert.Equal(t, r.srv.Tasks()[0].TaskID, got.TaskID)
	assert.Equal(t, []string{signed}, sentCallbackURLs(t, r.srv))
	for _, req := range r.srv.Requests() {
		assert.NotEqual(t, "/task/"+got.TaskID.String(), req.Path, "matched by target: no read of the task")
	}

	// The same request signed again with a rotated secret is the same
	// request under its key.
	rotated, err := kryptogo.NewCallbackSigner([]byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)
	resigned, err := rotated.SignURL("https://example.com/cb", "c1")
	require.NoError(t, err)
	require.NotEqual(t, signed, resigned)
	again, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", resigned))
	require.NoError(t, err)
	assert.Equal(t, got.TaskID, again.TaskID)
}

func TestExactModeRefusesAnotherKeysDigest(t *testing.T) {
	t.Parallel()
	other, err := kryptogo.IdempotencyCallbackURL("https://example.com/cb", "order-2")
	require.NoError(t, err)
	r := newKeyRig(t, 1)
	for name, callbackURL := range map[string]string{
		"another key's":  other,
		"two of them":    other + "&kg_idem=x",
		"a forged value": "https://example.com/cb?kg_idem=order-1",
	} {
		_, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyedTask("order-1", callbackURL))
		var verr *kryptogo.ValidationError
		require.ErrorAs(t, err, &verr, name)
		f, ok := verr.Field("callback_url")
		require.True(t, ok, "%s: %v", name, err)
		assert.Contains(t, f.Message, kryptogo.IdempotencyParam)
	}
	assert.Empty(t, r.srv.Requests())
}

func TestIdempotencyCallbackURL(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	signed, err := signer.SignURL("https://example.com/cb", "c1")
	require.NoError(t, err)
	withDigest, err := kryptogo.IdempotencyCallbackURL("https://example.com/cb", "order-1")
	require.NoError(t, err)
	again, err := kryptogo.IdempotencyCallbackURL(withDigest, "order-1")
	require.NoError(t, err)
	assert.Equal(t, withDigest, again, "idempotent")
	other, err := kryptogo.IdempotencyCallbackURL("https://example.com/cb", "order-2")
	require.NoError(t, err)
	assert.NotEqual(t, digestOf(t, withDigest), digestOf(t, other))

	for name, tc := range map[string]struct{ url, key, want string }{
		"signed":         {signed, "order-1", "add the key before signing"},
		"another digest": {withDigest, "order-2", "another key"},
		"no key":         {"https://example.com/cb", "", "idempotency_key"},
		"bad key":        {"https://example.com/cb", "order\t1", "idempotency_key"},
		"not http":       {"ftp://example.com/cb", "order-1", "absolute http(s)"},
		"bad query":      {"https://example.com/cb?a=%zz", "order-1", "does not parse"},
	} {
		_, err := kryptogo.IdempotencyCallbackURL(tc.url, tc.key)
		assert.ErrorContains(t, err, tc.want, name)
	}
}

// In exact mode a task of the request's target whose callback URL carries
// no digest (created without a key, or by the console) may be the task in
// doubt with its URL changed: the lookup cannot tell, and sends nothing.
func TestExactModeCannotTellATaskWithoutADigest(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1, kryptogotest.WithManualCompletion())
	c := r.clients[0]
	_, err := c.Tasks.CreateOne(testCtx(t), keyedTask("", "https://example.com/other"))
	require.NoError(t, err)
	r.srv.DropNextRequest(http.MethodPost, "/task", 1)
	_, err = c.Tasks.CreateOne(testCtx(t), keyedTask("order-1", "https://example.com/cb"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	_, err = c.Tasks.CreateOne(testCtx(t), keyedTask("order-1", "https://example.com/cb"))
	require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
	assert.Contains(t, err.Error(), "carries no kg_idem")
	assert.Equal(t, 2, r.posts("/task"), "nothing sent while the lookup cannot tell")
}

func TestFindCreated(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
	c := srv.Client()
	before := time.Now().Add(-time.Minute)
	plain := kycTask("c1", "Jane Roe")
	for _, req := range []kryptogo.CreateTaskRequest{plain, kycTask("c1", "Other Name"), kycTask("c2", "Jane Roe"), plain,
		keyedTask("order-1", "https://example.com/cb"), keyedTask("order-2", "https://example.com/cb")} {
		_, err := c.Tasks.CreateOne(testCtx(t), req)
		require.NoError(t, err)
	}
	ids := func(tasks []kryptogo.TaskSummary) []kryptogo.ID {
		var out []kryptogo.ID
		for _, task := range tasks {
			out = append(out, task.TaskID)
		}
		return out
	}

	found, err := c.Tasks.FindCreated(testCtx(t), plain, before)
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{1, 4, 5, 6}, ids(found), "the customer's tasks of the target, oldest first")
	found, err = c.Tasks.FindCreated(testCtx(t), plain, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, found, "none created since")

	found, err = c.Tasks.FindCreated(testCtx(t), keyedTask("order-2", "https://example.com/cb"), before)
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{6}, ids(found), "exact: the task carrying the key")

	_, err = c.Tasks.FindCreated(testCtx(t), kycTask("", "Jane Roe"), before)
	assert.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
	fromIDV := plain
	fromIDV.FromIDVID = 3
	_, err = c.Tasks.FindCreated(testCtx(t), fromIDV, before)
	assert.ErrorIs(t, err, kryptogo.ErrInvalidRequest)

	unreadable := newSleeplessClient(t, &scriptedHistory{pages: func(int) string { return `{"data":null}` }})
	found, err = unreadable.Tasks.FindCreated(testCtx(t), plain, before)
	require.ErrorContains(t, err, "cannot be read with certainty")
	assert.Nil(t, found)
}
