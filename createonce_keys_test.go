package kryptogo_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// keyRig is a fake API and clients that share one IdempotencyStore, as
// the replicas of a service do.
type keyRig struct {
	srv     *kryptogotest.Server
	store   *kryptogo.MemoryStore
	clients []*kryptogo.Client
}

func newKeyRig(t *testing.T, clients int, opts ...kryptogotest.Option) *keyRig {
	r := &keyRig{srv: kryptogotest.NewTestServer(t, opts...), store: kryptogo.NewMemoryStore()}
	for range clients {
		r.clients = append(r.clients, r.srv.Client(kryptogo.WithIdempotencyStore(r.store)))
	}
	return r
}

// posts counts the POSTs to path the fake received.
func (r *keyRig) posts(path string) int {
	n := 0
	for _, req := range r.srv.Requests() {
		if req.Method == http.MethodPost && req.Path == path {
			n++
		}
	}
	return n
}

// keyedKind is one create that takes an idempotency key, for the tests
// that hold for all of them.
type keyedKind struct {
	name, path string
	// create sends a request with the key; variant 1 is another request.
	create func(ctx context.Context, c *kryptogo.Client, key string, variant int) (kryptogo.ID, json.RawMessage, error)
	// canLookUp: the API lists what it creates (tasks), so a key in doubt
	// is resolved by a lookup.
	canLookUp bool
}

var jpegOnce = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 400)), nil)
	return buf.Bytes()
})

func keyedKinds() []keyedKind {
	names := []string{"Jane Roe", "John Doe"}
	addresses := []string{"0x742d35Cc6634C0532925a3b844Bc454e4438f44e", "0x00000000219ab540356cBB839Cbe05303d7705Fa"}
	return []keyedKind{
		{name: "Tasks.CreateOne", path: "/task", canLookUp: true,
			create: func(ctx context.Context, c *kryptogo.Client, key string, v int) (kryptogo.ID, json.RawMessage, error) {
				req := kycTask("c1", names[v])
				req.IdempotencyKey = key
				got, err := c.Tasks.CreateOne(ctx, req)
				if err != nil {
					return 0, nil, err
				}
				return got.TaskID, got.RawJSON(), nil
			}},
		{name: "KYA.Create", path: "/kya",
			create: func(ctx context.Context, c *kryptogo.Client, key string, v int) (kryptogo.ID, json.RawMessage, error) {
				got, err := c.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: addresses[v], IdempotencyKey: key})
				if err != nil {
					return 0, nil, err
				}
				return got.KYAID, got.RawJSON(), nil
			}},
		{name: "IDV.Create", path: "/idv",
			create: func(ctx context.Context, c *kryptogo.Client, key string, v int) (kryptogo.ID, json.RawMessage, error) {
				img := kryptogo.ImageFromBytes(jpegOnce())
				got, err := c.IDV.Create(ctx, &kryptogo.CreateIDVRequest{Country: "TWN", IDType: kryptogo.IDTypePassport,
					IDImage: img, FaceImage: img, ExpectedName: names[v], IdempotencyKey: key})
				if err != nil {
					return 0, nil, err
				}
				return got.IDVTaskID, got.RawJSON(), nil
			}},
		{name: "IDV.InitWeb", path: "/idv/init",
			create: func(ctx context.Context, c *kryptogo.Client, key string, v int) (kryptogo.ID, json.RawMessage, error) {
				got, err := c.IDV.InitWeb(ctx, &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypePassport, WorkflowID: kryptogo.WorkflowIDAndIdentity,
					Country: "TWN", CustomerReference: "c1", ExpectedName: names[v], IdempotencyKey: key})
				if err != nil {
					return 0, nil, err
				}
				return got.IDVTaskID, got.RawJSON(), nil
			}},
		{name: "IDV.InitMobile", path: "/idv/account",
			create: func(ctx context.Context, c *kryptogo.Client, key string, v int) (kryptogo.ID, json.RawMessage, error) {
				got, err := c.IDV.InitMobile(ctx, &kryptogo.InitMobileIDVRequest{Country: "TWN", ExpectedName: names[v], IdempotencyKey: key})
				if err != nil {
					return 0, nil, err
				}
				return got.IDVTaskID, got.RawJSON(), nil
			}},
	}
}

// A key done answers what the first call returned, RawJSON included,
// with no request: from the client that created it and from another
// sharing the store.
func TestKeyDoneAnswersFromTheStore(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 2)
			id, raw, err := kind.create(testCtx(t), r.clients[0], "order-1", 0)
			require.NoError(t, err)
			require.NotEmpty(t, raw)
			for _, c := range r.clients {
				again, againRaw, err := kind.create(testCtx(t), c, "order-1", 0)
				require.NoError(t, err)
				assert.Equal(t, id, again)
				assert.JSONEq(t, string(raw), string(againRaw), "the answer the first call got")
			}
			assert.Equal(t, 1, r.posts(kind.path), "one POST in all")

			other, _, err := kind.create(testCtx(t), r.clients[1], "order-2", 0)
			require.NoError(t, err)
			assert.NotEqual(t, id, other, "another key creates again")
		})
	}
}

// A key used for another request is refused before anything is sent.
func TestKeyReusedForAnotherRequestIsRefused(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 2)
			_, _, err := kind.create(testCtx(t), r.clients[0], "order-1", 0)
			require.NoError(t, err)
			_, _, err = kind.create(testCtx(t), r.clients[1], "order-1", 1)
			require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
			var verr *kryptogo.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Contains(t, verr.Fields[0].Field, "idempotency_key")
			assert.Contains(t, verr.Fields[0].Message, "another request")
			assert.Equal(t, 1, r.posts(kind.path), "nothing sent")
		})
	}
}

// A call that retries after ErrMaybeSent with the same key costs one POST
// in all: a task is found in the history; a KYA screening or IDV task,
// which the API cannot list, is not sent again (the error says how to
// resolve it), and once the user resolved it and forgot the key, it is.
func TestKeySequentialRetryAfterMaybeSent(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 1)
			c := r.clients[0]
			r.srv.DropNextResponse(http.MethodPost, kind.path, 1)
			_, _, err := kind.create(testCtx(t), c, "order-1", 0)
			require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			assert.Contains(t, err.Error(), "idempotency key")

			id, _, err := kind.create(testCtx(t), c, "order-1", 0)
			if kind.canLookUp {
				require.NoError(t, err, "found in the history")
				assert.Equal(t, r.srv.Tasks()[0].TaskID, id)
				assert.Equal(t, 1, r.posts(kind.path), "one POST in all")
				return
			}
			require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
			assert.Contains(t, err.Error(), "nothing was sent")
			assert.Contains(t, err.Error(), "Forget(key)")
			assert.Equal(t, 1, r.posts(kind.path), "one POST in all")

			require.NoError(t, r.store.Forget(testCtx(t), "order-1"))
			_, _, err = kind.create(testCtx(t), c, "order-1", 0)
			require.NoError(t, err)
			assert.Equal(t, 2, r.posts(kind.path), "sent once forgotten")
		})
	}
}

// A send that provably did not reach the API (refused, 4xx) frees the key:
// the next call sends.
func TestKeyFreedWhenNothingWasSent(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 1)
			r.srv.FailNextOnRequest(http.MethodPost, kind.path, 1, http.StatusBadRequest)
			_, _, err := kind.create(testCtx(t), r.clients[0], "order-1", 0)
			require.Error(t, err)
			require.NotErrorIs(t, err, kryptogo.ErrMaybeSent)
			_, found, err := r.store.Get(testCtx(t), "order-1")
			require.NoError(t, err)
			assert.False(t, found, "released: nothing exists under the key")

			_, _, err = kind.create(testCtx(t), r.clients[0], "order-1", 0)
			require.NoError(t, err)
			assert.Equal(t, 2, r.posts(kind.path))
		})
	}
}

// Calls with one key at once, in one process and across clients sharing
// the store, send one POST and all return its result.
func TestKeyConcurrentCallsSendOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 2, kryptogotest.WithLatency(20*time.Millisecond))
			ids := make([]kryptogo.ID, 8)
			errs := make([]error, len(ids))
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids[i], _, errs[i] = kind.create(testCtx(t), r.clients[i%2], "order-1", 0)
				}()
			}
			wg.Wait()
			for i := range ids {
				require.NoError(t, errs[i])
				assert.Equal(t, ids[0], ids[i])
			}
			assert.Equal(t, 1, r.posts(kind.path), "one POST")
		})
	}
}

// Key validation: 1 to 255 printable ASCII characters without a space at
// either end; a bad key is a ValidationError before anything is sent.
func TestKeyValidation(t *testing.T) {
	t.Parallel()
	good := []string{"a", "order-1042", "order 1042", strings.Repeat("k", 255), `~!@#$%^&*()_+{}|:"<>?`}
	bad := map[string]string{
		"too long":           strings.Repeat("k", 256),
		"not ASCII":          "commande-é",
		"a tab":              "order\t1",
		"a line break":       "order\n1",
		"NUL":                "order\x001",
		"DEL":                "order\x7f",
		"a leading space":    " order-1",
		"a trailing space":   "order-1 ",
		"only spaces":        "   ",
		"invalid UTF-8":      "order-\xff",
		"a full-width digit": "order-１",
	}
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 1)
			for i, key := range good {
				_, _, err := kind.create(testCtx(t), r.clients[0], key, i%2)
				assert.NoError(t, err, "%q", key)
			}
			sent := r.posts(kind.path)
			for name, key := range bad {
				_, _, err := kind.create(testCtx(t), r.clients[0], key, 0)
				var verr *kryptogo.ValidationError
				if assert.ErrorAs(t, err, &verr, name) {
					assert.Equal(t, "idempotency_key", verr.Fields[len(verr.Fields)-1].Field, name)
				}
			}
			assert.Equal(t, sent, r.posts(kind.path), "nothing sent for a bad key")
		})
	}
}

// The key is never sent, printed or logged, and the call masks it in its
// errors as it masks personal values.
func TestKeyIsNeverSentPrintedOrLogged(t *testing.T) {
	t.Parallel()
	const key = "order-secret-1042"
	r := newKeyRig(t, 1)
	for _, kind := range keyedKinds() {
		_, _, err := kind.create(testCtx(t), r.clients[0], key+kind.path, 0)
		require.NoError(t, err)
	}
	for _, req := range r.srv.Requests() {
		assert.NotContains(t, string(req.Body), key, "%s %s", req.Method, req.Path)
		assert.NotContains(t, req.Query, key)
	}
	task := kycTask("c1", "Jane Roe")
	task.IdempotencyKey = key
	values := []any{task, &kryptogo.CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: key},
		kryptogo.CreateIDVRequest{IdempotencyKey: key}, kryptogo.InitWebIDVRequest{IdempotencyKey: key}, &kryptogo.InitMobileIDVRequest{IdempotencyKey: key}}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, v), key, "%T %s", v, verb)
		}
		logger.Info("request", "req", v)
	}
	assert.NotContains(t, logs.String(), key)
}

func TestKeyIsMaskedInErrors(t *testing.T) {
	t.Parallel()
	const key = "order-secret-1042"
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest) // a server that quotes what it was told about the call
		_, _ = fmt.Fprintf(w, `{"code":400,"message":"duplicate of %s"}`, key)
	})
	c := newSleeplessClient(t, echo)
	_, err := c.KYA.Create(testCtx(t), &kryptogo.CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: key})
	var apiErr *kryptogo.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.NotContains(t, err.Error(), key)
	assert.NotContains(t, string(apiErr.Body), key)
}

// Batches: every task has its own key or none has one; a keyed task needs
// a customer reference and no from_idv_id. Each rule is reported before
// anything is sent, with the API's.
func TestKeyBatchRules(t *testing.T) {
	t.Parallel()
	keyed := func(ref, name, key string) kryptogo.CreateTaskRequest {
		r := kycTask(ref, name)
		r.IdempotencyKey = key
		return r
	}
	fromIDV := keyed("c1", "Jane Roe", "k3")
	fromIDV.FromIDVID = 7
	for name, tc := range map[string]struct {
		reqs []kryptogo.CreateTaskRequest
		want map[string]string
	}{
		"mixed":     {[]kryptogo.CreateTaskRequest{keyed("c1", "A", "k1"), kycTask("c1", "B")}, map[string]string{"[1].idempotency_key": "every task has its own"}},
		"repeated":  {[]kryptogo.CreateTaskRequest{keyed("c1", "A", "k1"), keyed("c1", "B", "k1")}, map[string]string{"[1].idempotency_key": "repeats the key of [0]"}},
		"no ref":    {[]kryptogo.CreateTaskRequest{keyed("", "A", "k1")}, map[string]string{"[0].customer_reference": "is required"}},
		"from IDV":  {[]kryptogo.CreateTaskRequest{fromIDV}, map[string]string{"[0].from_idv_id": "cannot be looked up"}},
		"and API's": {[]kryptogo.CreateTaskRequest{keyed("c1", "", "k1"), kycTask("c1", "B")}, map[string]string{"[0].target.name": "", "[1].idempotency_key": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newKeyRig(t, 1)
			for _, create := range []func() error{
				func() error { _, err := r.clients[0].Tasks.Create(testCtx(t), tc.reqs); return err },
				func() error { _, err := r.clients[0].Tasks.CreateOnce(testCtx(t), tc.reqs); return err },
			} {
				err := create()
				var verr *kryptogo.ValidationError
				require.ErrorAs(t, err, &verr)
				for field, msg := range tc.want {
					f, ok := verr.Field(field)
					if assert.True(t, ok, "%s in %v", field, err) {
						assert.Contains(t, f.Message, msg)
					}
				}
			}
			assert.Empty(t, r.srv.Requests(), "nothing sent")
		})
	}
	// One task: the same rules, without an index.
	r := newKeyRig(t, 1)
	_, err := r.clients[0].Tasks.CreateOne(testCtx(t), keyed("", "A", "k1"))
	var verr *kryptogo.ValidationError
	require.ErrorAs(t, err, &verr)
	_, ok := verr.Field("customer_reference")
	assert.True(t, ok, "%v", err)
}

// A batch answers the keys done from the store and sends the rest in one
// POST; receipts come in input order.
func TestKeyBatchSendsOnlyTheKeysNotDone(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1)
	c := r.clients[0]
	batch := func(keys ...string) []kryptogo.CreateTaskRequest {
		var reqs []kryptogo.CreateTaskRequest
		for _, k := range keys {
			req := kycTask("c-"+k, "Name "+k)
			req.IdempotencyKey = k
			reqs = append(reqs, req)
		}
		return reqs
	}
	first, err := c.Tasks.Create(testCtx(t), batch("k1", "k2"))
	require.NoError(t, err)
	second, err := c.Tasks.Create(testCtx(t), batch("k3", "k1", "k4", "k2"))
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{3, first[0].TaskID, 4, first[1].TaskID}, taskIDs(second))
	require.Equal(t, 2, r.posts("/task"))
	var posts [][]byte // a fresh client also asks GET /tasks for the API's clock
	for _, req := range r.srv.Requests() {
		if req.Method == http.MethodPost && req.Path == "/task" {
			posts = append(posts, req.Body)
		}
	}
	require.Len(t, posts, 2)
	var sent []map[string]any
	require.NoError(t, json.Unmarshal(posts[1], &sent))
	require.Len(t, sent, 2, "only the keys not done")
	assert.Equal(t, "c-k3", sent[0]["customer_reference"])
	assert.Equal(t, "c-k4", sent[1]["customer_reference"])
	again, err := c.Tasks.CreateOnce(testCtx(t), batch("k4", "k3"))
	require.NoError(t, err)
	assert.Equal(t, []kryptogo.ID{4, 3}, taskIDs(again))
	assert.Equal(t, 2, r.posts("/task"), "all done: no POST")
}

// A task whose send was in doubt and which the API did not create is sent
// by the next call, after the lookup; one whose lookup cannot tell is not.
func TestKeyTaskInDoubtLookedUpBeforeSendingAgain(t *testing.T) {
	t.Parallel()
	req := kycTask("c1", "Jane Roe")
	req.IdempotencyKey = "order-1"
	t.Run("not created: sent", func(t *testing.T) {
		t.Parallel()
		r := newKeyRig(t, 1)
		r.srv.DropNextRequest(http.MethodPost, "/task", 1)
		_, err := r.clients[0].Tasks.CreateOne(testCtx(t), req)
		require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
		got, err := r.clients[0].Tasks.CreateOne(testCtx(t), req)
		require.NoError(t, err)
		assert.Len(t, r.srv.Tasks(), 1)
		assert.Equal(t, r.srv.Tasks()[0].TaskID, got.TaskID)
		assert.Equal(t, 2, r.posts("/task"))
	})
	t.Run("the lookup cannot tell: nothing sent", func(t *testing.T) {
		t.Parallel()
		r := newKeyRig(t, 1)
		c := r.srv.Client(kryptogo.WithIdempotencyStore(r.store), kryptogo.WithMaxRetries(0))
		r.srv.DropNextRequest(http.MethodPost, "/task", 1)
		_, err := c.Tasks.CreateOne(testCtx(t), req)
		require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
		r.srv.FailNextOnRequest(http.MethodGet, "/tasks", 1, http.StatusBadGateway)
		_, err = c.Tasks.CreateOne(testCtx(t), req)
		require.ErrorIs(t, err, kryptogo.ErrMaybeSent)
		assert.Contains(t, err.Error(), "Tasks.FindCreated")
		assert.Equal(t, 1, r.posts("/task"), "nothing sent while in doubt")
		rec, found, err := r.store.Get(testCtx(t), "order-1")
		require.NoError(t, err)
		assert.True(t, found && rec.InDoubt && rec.Holder == "", "still in doubt, free for the next call: %+v", rec)

		_, err = c.Tasks.CreateOne(testCtx(t), req)
		require.NoError(t, err, "the next call's lookup can tell")
		assert.Equal(t, 2, r.posts("/task"))
		assert.Len(t, r.srv.Tasks(), 1)
	})
}

// CreateOnce with keys resolves its own send in doubt in the call.
func TestKeyCreateOnceResolvesItsOwnDoubt(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1)
	r.srv.FailNextAfterHandling(http.MethodPost, "/task", 1, http.StatusInternalServerError)
	req := kycTask("c1", "Jane Roe")
	req.IdempotencyKey = "order-1"
	got, err := r.clients[0].Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{req})
	require.NoError(t, err)
	assert.Equal(t, r.srv.Tasks()[0].TaskID, got[0].TaskID)
	assert.Equal(t, 1, r.posts("/task"))
	rec, _, err := r.store.Get(testCtx(t), "order-1")
	require.NoError(t, err)
	assert.True(t, rec.Done, "recorded")
	again, err := r.clients[0].Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{req})
	require.NoError(t, err)
	assert.Equal(t, got[0].TaskID, again[0].TaskID)
	assert.Equal(t, got[0].Timestamp, again[0].Timestamp)
	assert.JSONEq(t, string(again[0].RawJSON()), string(got[0].RawJSON()), "the first call answers as later ones do")
}

// flakyStore is a MemoryStore whose methods fail on demand, and which
// counts the claims of each token.
type flakyStore struct {
	*kryptogo.MemoryStore
	mu     sync.Mutex
	fail   map[string]error // by method name
	claims map[string]int   // by token
}

func newFlakyStore() *flakyStore {
	return &flakyStore{MemoryStore: kryptogo.NewMemoryStore(), fail: map[string]error{}, claims: map[string]int{}}
}

func (s *flakyStore) failOn(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = err
}

func (s *flakyStore) err(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail[method]
}

func (s *flakyStore) Claim(ctx context.Context, key, token, fp string, lease time.Duration) (kryptogo.KeyRecord, bool, error) {
	if err := s.err("Claim"); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	s.mu.Lock()
	s.claims[token]++
	s.mu.Unlock()
	return s.MemoryStore.Claim(ctx, key, token, fp, lease)
}

func (s *flakyStore) MarkInDoubt(ctx context.Context, key, token string, at time.Time) error {
	if err := s.err("MarkInDoubt"); err != nil {
		return err
	}
	return s.MemoryStore.MarkInDoubt(ctx, key, token, at)
}

func (s *flakyStore) Complete(ctx context.Context, key, token string, result []byte) (kryptogo.KeyRecord, error) {
	if err := s.err("Complete"); err != nil {
		return kryptogo.KeyRecord{}, err
	}
	return s.MemoryStore.Complete(ctx, key, token, result)
}

func (s *flakyStore) Release(ctx context.Context, key, token string, inDoubt bool) error {
	if err := s.err("Release"); err != nil {
		return err
	}
	return s.MemoryStore.Release(ctx, key, token, inDoubt)
}

func (s *flakyStore) Get(ctx context.Context, key string) (kryptogo.KeyRecord, bool, error) {
	if err := s.err("Get"); err != nil {
		return kryptogo.KeyRecord{}, false, err
	}
	return s.MemoryStore.Get(ctx, key)
}

// A store that fails before the send stops it: nothing is sent, and the
// error says the store failed. One that fails after a send that succeeded
// still returns the result, and the failure is logged.
func TestKeyStoreFailureFailsClosed(t *testing.T) {
	t.Parallel()
	down := errors.New("store unreachable")
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{"Claim", "MarkInDoubt"} {
				srv := kryptogotest.NewTestServer(t)
				store := newFlakyStore()
				store.failOn(method, down)
				_, _, err := kind.create(testCtx(t), srv.Client(kryptogo.WithIdempotencyStore(store)), "order-1", 0)
				require.ErrorIs(t, err, down, method)
				assert.Contains(t, err.Error(), "idempotency store failed")
				assert.Contains(t, err.Error(), "nothing was sent")
				assert.Empty(t, srv.Requests(), "%s: nothing sent", method)
			}

			srv := kryptogotest.NewTestServer(t)
			store := newFlakyStore()
			var logs syncLog
			c := srv.Client(kryptogo.WithIdempotencyStore(store), kryptogo.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			store.failOn("Complete", down)
			id, _, err := kind.create(testCtx(t), c, "order-1", 0)
			require.NoError(t, err, "the resource exists: it is returned")
			assert.NotZero(t, id)
			assert.Contains(t, logs.String(), "recording")
			rec, _, err := store.Get(testCtx(t), "order-1")
			require.NoError(t, err)
			assert.True(t, rec.InDoubt && rec.Holder == "", "released in doubt: %+v", rec)
		})
	}
}

// A store that fails while a call waits for another caller's key stops the
// wait: nothing is sent.
func TestKeyStoreFailureWhileWaiting(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	store := newFlakyStore()
	_, held, err := store.Claim(testCtx(t), "order-1", "another-caller", "", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	store.failOn("Get", errors.New("store unreachable"))
	_, err = srv.Client(kryptogo.WithIdempotencyStore(store)).KYA.Create(testCtx(t),
		&kryptogo.CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: "order-1"})
	require.ErrorContains(t, err, "idempotency store failed")
	assert.Empty(t, srv.Requests())
}

// A call waiting for another caller's key ends with its ctx, having sent
// nothing.
func TestKeyWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1)
	_, _, err := r.store.Claim(testCtx(t), "order-1", "another-caller", "", time.Minute)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Millisecond)
	defer cancel()
	_, err = r.clients[0].KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: "order-1"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "another call holds the idempotency key")
	assert.NotErrorIs(t, err, kryptogo.ErrMaybeSent, "this call sent nothing")
	assert.Empty(t, r.srv.Requests())
}

// syncLog is a buffer safe for a logger's concurrent writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestWithIdempotencyStoreOption(t *testing.T) {
	t.Parallel()
	_, err := kryptogo.NewClient("k", kryptogo.WithIdempotencyStore(nil))
	assert.ErrorContains(t, err, "nil store")
	srv := kryptogotest.NewTestServer(t)
	_, err = srv.Client().KYA.Get(testCtx(t), 1, kryptogo.WithIdempotencyStore(kryptogo.NewMemoryStore()))
	assert.ErrorContains(t, err, "client option")

	// Without the option, each client has a store of its own.
	a, b := srv.Client(), srv.Client()
	req := &kryptogo.CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: "order-1"}
	first, err := a.KYA.Create(testCtx(t), req)
	require.NoError(t, err)
	again, err := a.KYA.Create(testCtx(t), req)
	require.NoError(t, err)
	assert.Equal(t, first.KYAID, again.KYAID)
	other, err := b.KYA.Create(testCtx(t), req)
	require.NoError(t, err)
	assert.NotEqual(t, first.KYAID, other.KYAID, "another client's own store")
}

// Screen sends each keyed item through its key: a batch screened again
// costs no request.
func TestKeyScreen(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1)
	reqs := []kryptogo.CreateKYARequest{
		{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: "w-1"},
		{Address: "0x00000000219ab540356cBB839Cbe05303d7705Fa", IdempotencyKey: "w-2"},
		{Address: "0x00000000219ab540356cBB839Cbe05303d7705Fa"},
		{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", IdempotencyKey: "bad\tkey"},
	}
	first := r.clients[0].KYA.Screen(testCtx(t), reqs, nil)
	second := r.clients[0].KYA.Screen(testCtx(t), reqs, nil)
	for i := range 2 {
		require.NoError(t, first[i].Err)
		require.NoError(t, second[i].Err)
		assert.Equal(t, first[i].Result.KYAID, second[i].Result.KYAID, "item %d answered from the store", i)
	}
	require.NoError(t, second[2].Err)
	assert.NotEqual(t, first[2].Result.KYAID, second[2].Result.KYAID, "an item without a key is screened again")
	assert.ErrorIs(t, first[3].Err, kryptogo.ErrInvalidRequest)
	assert.Equal(t, 4, r.posts("/kya"))
}

// An IDV upload under a key is the same request only with the same
// images: another image under the key is refused.
func TestKeyIDVFingerprintCoversTheImages(t *testing.T) {
	t.Parallel()
	r := newKeyRig(t, 1)
	img := kryptogo.ImageFromBytes(jpegOnce())
	var other bytes.Buffer
	require.NoError(t, jpeg.Encode(&other, image.NewGray(image.Rect(0, 0, 640, 401)), nil))
	req := func(face *kryptogo.Image) *kryptogo.CreateIDVRequest {
		return &kryptogo.CreateIDVRequest{Country: "TWN", IDType: kryptogo.IDTypePassport, IDImage: img, FaceImage: face, IdempotencyKey: "upload-1"}
	}
	first, err := r.clients[0].IDV.Create(testCtx(t), req(img))
	require.NoError(t, err)
	again, err := r.clients[0].IDV.Create(testCtx(t), req(kryptogo.ImageFromBase64(base64.StdEncoding.EncodeToString(jpegOnce()))))
	require.NoError(t, err, "the same bytes, from another source")
	assert.Equal(t, first.IDVTaskID, again.IDVTaskID)
	_, err = r.clients[0].IDV.Create(testCtx(t), req(kryptogo.ImageFromBytes(other.Bytes())))
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
	assert.Equal(t, 1, r.posts("/idv"))
}

// A store whose errors name the key (a Redis or SQL driver quotes the
// command it ran) must not carry it into the call's error, any node of its
// chain, or the log: the SDK masks the keys of the call in what the store
// said, as it masks personal values.
func TestKeyStoreErrorsAreMaskedOfTheKey(t *testing.T) {
	t.Parallel()
	const key = "order-secret-4242"
	quoting := func(step string) error {
		return fmt.Errorf("redis: %s %q: %w", step, key, context.DeadlineExceeded)
	}
	for _, kind := range keyedKinds() {
		for _, method := range []string{"Claim", "MarkInDoubt", "Get", "Complete", "Release"} {
			t.Run(kind.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
				store := newFlakyStore()
				var logs syncLog
				logger := slog.New(slog.NewJSONHandler(&logs, nil))
				c := srv.Client(kryptogo.WithIdempotencyStore(store), kryptogo.WithLogger(logger),
					kryptogo.WithPollInterval(time.Millisecond, time.Millisecond))
				switch method {
				case "Get": // another caller holds the key: the call reads it while it waits
					_, _, err := store.MemoryStore.Claim(testCtx(t), key, "another-caller", "", time.Hour)
					require.NoError(t, err)
				case "Release": // a send that fails before the API releases the key
					srv.FailNextOnRequest(http.MethodPost, kind.path, 1, http.StatusBadRequest)
				}
				store.failOn(method, quoting(method))
				_, _, err := kind.create(testCtx(t), c, key, 0)
				if method == "Get" || method == "Claim" || method == "MarkInDoubt" || method == "Release" {
					require.Error(t, err)
				}
				for e := err; e != nil; e = errors.Unwrap(e) {
					for _, verb := range []string{"%v", "%+v", "%#v"} {
						assert.NotContains(t, fmt.Sprintf(verb, e), key, "%T %s", e, verb)
					}
				}
				if err != nil && method != "Release" {
					assert.ErrorIs(t, err, context.DeadlineExceeded, "the store's failure is still classified")
				}
				assert.NotContains(t, logs.String(), key)
			})
		}
	}
}

// stepStore acts at its at-th call (any method): cancels the caller before
// or after the call, or fails it (the call made or not).
type stepStore struct {
	kryptogo.IdempotencyStore
	mu     sync.Mutex
	n, at  int
	action string
	cancel context.CancelFunc
}

func (s *stepStore) step() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.action, s.n == s.at
}

func (s *stepStore) around(call func() error) error {
	action, now := s.step()
	if !now {
		return call()
	}
	switch action {
	case "cancel-before":
		s.cancel()
		return call()
	case "cancel-after":
		err := call()
		s.cancel()
		return err
	case "fail":
		return errors.New("store blip")
	case "fail-after":
		_ = call()
		return errors.New("store blip after")
	}
	return call()
}

func (s *stepStore) Claim(ctx context.Context, key, token, fp string, lease time.Duration) (rec kryptogo.KeyRecord, ok bool, err error) {
	err = s.around(func() (e error) {
		rec, ok, e = s.IdempotencyStore.Claim(ctx, key, token, fp, lease)
		return e
	})
	return rec, ok, err
}

func (s *stepStore) MarkInDoubt(ctx context.Context, key, token string, at time.Time) error {
	return s.around(func() error { return s.IdempotencyStore.MarkInDoubt(ctx, key, token, at) })
}

func (s *stepStore) Complete(ctx context.Context, key, token string, result []byte) (rec kryptogo.KeyRecord, err error) {
	err = s.around(func() (e error) {
		rec, e = s.IdempotencyStore.Complete(ctx, key, token, result)
		return e
	})
	return rec, err
}

func (s *stepStore) Release(ctx context.Context, key, token string, inDoubt bool) error {
	return s.around(func() error { return s.IdempotencyStore.Release(ctx, key, token, inDoubt) })
}

func (s *stepStore) Get(ctx context.Context, key string) (rec kryptogo.KeyRecord, ok bool, err error) {
	err = s.around(func() (e error) {
		rec, ok, e = s.IdempotencyStore.Get(ctx, key)
		return e
	})
	return rec, ok, err
}

// The protocol swept: a caller is cancelled, or the store fails, at each of
// its first four store calls (claim, mark in doubt, complete or release,
// the task's owner record), while the API answers, answers 500 after
// creating, drops its answer, or sees the caller cancelled at its POST;
// then another client retries the key six times. For every create, every
// step and every fault (320 runs): at most one create, and every call that
// succeeds returns its id.
func TestKeyProtocolSwept(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		for _, action := range []string{"cancel-before", "cancel-after", "fail", "fail-after"} {
			for _, httpFault := range []string{"none", "500-after", "drop-answer", "cancel-at-post"} {
				for at := 1; at <= 4; at++ {
					name := fmt.Sprintf("%s/%s/%s/%d", kind.name, action, httpFault, at)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
						shared := kryptogo.NewMemoryStore()
						ctx, cancel := context.WithCancel(testCtx(t))
						defer cancel()
						ss := &stepStore{IdempotencyStore: shared, at: at, action: action, cancel: cancel}
						posted := false
						var pmu sync.Mutex
						srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
							if r.Method != http.MethodPost {
								return kryptogotest.Fault{}
							}
							pmu.Lock()
							defer pmu.Unlock()
							if posted {
								return kryptogotest.Fault{}
							}
							posted = true
							switch httpFault {
							case "500-after":
								return kryptogotest.Fault{Status: 500, AfterHandling: true}
							case "drop-answer":
								return kryptogotest.Fault{Drop: true, AfterHandling: true}
							case "cancel-at-post":
								cancel()
								return kryptogotest.Fault{Drop: true, AfterHandling: true}
							}
							return kryptogotest.Fault{}
						})
						a := srv.Client(kryptogo.WithIdempotencyStore(ss), kryptogo.WithReconcileWait(30*time.Millisecond))
						kryptogo.SetKeyLease(a, 300*time.Millisecond)
						b := srv.Client(kryptogo.WithIdempotencyStore(shared), kryptogo.WithReconcileWait(30*time.Millisecond),
							kryptogo.WithPollInterval(time.Millisecond, 5*time.Millisecond))
						var ids []kryptogo.ID
						id, _, err := kind.create(ctx, a, "k-1", 0)
						if err == nil {
							ids = append(ids, id)
						}
						time.Sleep(20 * time.Millisecond) // the fake may still be creating after a cancel
						for try := 0; try < 6; try++ {
							bctx, bc := context.WithTimeout(testCtx(t), time.Second)
							id, _, err := kind.create(bctx, b, "k-1", 0)
							bc()
							if err == nil {
								ids = append(ids, id)
							}
						}
						created := len(srv.Tasks()) + len(srv.KYAResults()) + len(srv.IDVTasks())
						assert.LessOrEqual(t, created, 1, "at most one create")
						for _, id := range ids {
							assert.Equal(t, ids[0], id, "one id for the key")
						}
					})
				}
			}
		}
	}
}
