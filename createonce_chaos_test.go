package kryptogo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// The chaos tests hold the SDK to its promise for idempotency keys under a
// network and an API that fail at random: 200 keys, two callers per key
// (replicas) on 4 clients that share one store, each retrying on any error
// until it succeeds (20 tries at most), against a fake that injects a
// fault into 20% of its requests and lists a task in its history only 2 s
// after creating it (the fake's client waits for the history a little
// longer than its lag). A plain go test runs them at full size: their
// callers run in parallel with the package's other tests, and the package
// takes no longer for them.
const (
	chaosTries      = 20
	chaosClients    = 4
	chaosFaultShare = 0.2
)

// chaosKeys is how many keys a chaos test uses, and chaosHistoryLag how
// long the fake takes to list a task in its history.
const (
	chaosKeys       = 200
	chaosHistoryLag = 2 * time.Second
)

// chaosFaults are the faults injected, each as likely as the others.
var chaosFaults = []kryptogotest.Fault{
	{Drop: true},                       // the request is lost
	{Drop: true, AfterHandling: true},  // the answer is lost
	{Status: 500, AfterHandling: true}, // 500 after create
	{Status: 503},
	{Status: 429},
	{Delay: 30 * time.Millisecond}, // latency
}

// chaosRig is the fake and the clients of a chaos test.
type chaosRig struct {
	keys    int
	srv     *kryptogotest.Server
	clients []*kryptogo.Client
	calls   atomic.Int64
	start   time.Time
}

func newChaosRig(t *testing.T, seed uint64) *chaosRig {
	r := &chaosRig{keys: chaosKeys, srv: kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion(), kryptogotest.WithHistoryLag(chaosHistoryLag))}
	rng := rand.New(rand.NewPCG(seed, seed))
	r.srv.SetFaultFunc(func(kryptogotest.Request) kryptogotest.Fault { // under the fake's lock: rng needs none
		if rng.Float64() < chaosFaultShare {
			return chaosFaults[rng.IntN(len(chaosFaults))]
		}
		return kryptogotest.Fault{}
	})
	store := kryptogo.NewMemoryStore()
	for range chaosClients {
		r.clients = append(r.clients, r.srv.Client(kryptogo.WithIdempotencyStore(store)))
	}
	r.start = time.Now()
	return r
}

// run calls create for every key from two callers on different clients,
// each until it succeeds or tried chaosTries times, and returns the ids
// each key's successful calls returned.
func (r *chaosRig) run(ctx context.Context, create func(ctx context.Context, c *kryptogo.Client, key int, caller int) (kryptogo.ID, error)) [][]kryptogo.ID {
	got := make([][]kryptogo.ID, r.keys)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for key := range r.keys {
		for caller := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := r.clients[(key+caller)%chaosClients]
				for range chaosTries {
					r.calls.Add(1)
					id, err := create(ctx, c, key, caller)
					if err == nil {
						mu.Lock()
						got[key] = append(got[key], id)
						mu.Unlock()
						return
					}
					if ctx.Err() != nil {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return got
}

// report logs the figures of a chaos run.
func (r *chaosRig) report(t *testing.T, what string, created, duplicates, succeeded int) {
	faults, posts, gets := 0, 0, 0
	for _, req := range r.srv.Requests() {
		if req.Fault != (kryptogotest.Fault{}) {
			faults++
		}
		switch req.Method {
		case http.MethodPost:
			posts++
		case http.MethodGet:
			gets++
		}
	}
	t.Logf("chaos %s: %d keys, %d created, %d duplicates, %d keys succeeded, %d calls, %d requests (%d POST, %d GET), %d faults injected, wall time %v",
		what, r.keys, created, duplicates, succeeded, r.calls.Load(), posts+gets, posts, gets, faults, time.Since(r.start).Round(time.Millisecond))
}

func chaosContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a bound, not an expectation
	t.Cleanup(cancel)
	return ctx
}

// Tasks: every key's callers succeed, all with the same task, and the fake
// holds exactly one task per key. Even keys are matched by target (a
// customer each), odd keys exactly by their callback URL, two keys per
// customer and target.
func TestChaosTasksAreCreatedOncePerKey(t *testing.T) {
	t.Parallel()
	r := newChaosRig(t, 17)
	request := func(key int) kryptogo.CreateTaskRequest {
		if key%2 == 0 {
			req := kycTask(fmt.Sprintf("cust-%d", key), fmt.Sprintf("Person %d", key))
			req.IdempotencyKey = fmt.Sprintf("onboarding-%d", key)
			return req
		}
		req := kycTask(fmt.Sprintf("pair-%d", key/4), "Shared Name")
		req.IdempotencyKey = fmt.Sprintf("onboarding-%d", key)
		req.CallbackURL = fmt.Sprintf("https://example.com/kryptogo?key=%d", key)
		return req
	}
	got := r.run(chaosContext(t), func(ctx context.Context, c *kryptogo.Client, key, caller int) (kryptogo.ID, error) {
		if caller == 0 {
			task, err := c.Tasks.CreateOne(ctx, request(key))
			if err != nil {
				return 0, err
			}
			return task.TaskID, nil
		}
		tasks, err := c.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{request(key)})
		if err != nil {
			return 0, err
		}
		return tasks[0].TaskID, nil
	})

	owner := map[kryptogo.ID]int{}
	succeeded := 0
	for key, ids := range got {
		require.Len(t, ids, 2, "key %d: both callers succeed", key)
		succeeded++
		assert.Equal(t, ids[0], ids[1], "key %d: every call returns the same task", key)
		if other, taken := owner[ids[0]]; taken {
			t.Errorf("task %d reported for keys %d and %d", ids[0], other, key)
		}
		owner[ids[0]] = key
	}
	tasks := r.srv.Tasks()
	perKey := map[int]int{}
	for _, task := range tasks {
		key, ok := owner[task.TaskID]
		if !assert.True(t, ok, "task %d belongs to no key", task.TaskID) {
			continue
		}
		want := request(key)
		assert.Equal(t, want.CustomerReference, task.CustomerReference)
		perKey[key]++
	}
	r.report(t, "tasks", len(tasks), len(tasks)-len(perKey), succeeded)
	assert.Len(t, tasks, r.keys, "exactly one task per key")
}

// KYA: at most one screening per key, and no call reports a screening
// another key got. A key whose send was in doubt stays in doubt (the API
// cannot list screenings): its callers fail with ErrMaybeSent, sending
// nothing.
func TestChaosKYAIsScreenedAtMostOncePerKey(t *testing.T) {
	t.Parallel()
	r := newChaosRig(t, 29)
	address := func(key int) string { return fmt.Sprintf("0x%040x", key+1) }
	got := r.run(chaosContext(t), func(ctx context.Context, c *kryptogo.Client, key, _ int) (kryptogo.ID, error) {
		res, err := c.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: address(key), IdempotencyKey: fmt.Sprintf("withdrawal-%d", key)})
		if err != nil {
			return 0, err
		}
		if res.Address != address(key) {
			return 0, fmt.Errorf("key %d got the screening of %s", key, res.Address)
		}
		return res.KYAID, nil
	})

	screenings := map[string][]kryptogo.ID{}
	for _, res := range r.srv.KYAResults() {
		screenings[strings.ToLower(res.Address)] = append(screenings[strings.ToLower(res.Address)], res.KYAID)
	}
	duplicates, succeeded := 0, 0
	for key, ids := range got {
		created := screenings[address(key)]
		if len(created) > 1 {
			duplicates += len(created) - 1
		}
		if len(ids) == 0 {
			continue
		}
		succeeded++
		require.Len(t, created, 1, "key %d", key)
		for _, id := range ids {
			assert.Equal(t, created[0], id, "key %d: its own screening", key)
		}
	}
	r.report(t, "KYA", len(r.srv.KYAResults()), duplicates, succeeded)
	assert.Zero(t, duplicates, "at most one screening per key")
	assert.LessOrEqual(t, len(r.srv.KYAResults()), r.keys)
	assert.Greater(t, succeeded, r.keys/2, "most keys were never in doubt")
}
