package kryptogo_test

// The soak (issue 8, item 5): many goroutines share one client against the
// fake, with faults injected, and nothing leaks: no race, no goroutine, no
// connection, no task created twice or created unseen.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sort"
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

var soakFor = flag.Duration("soak", 0, "run TestSoak for this long (go test -run TestSoak -soak 10s); 0 skips it")

const (
	soakWorkers   = 200
	soakFaultRate = 0.05
)

// countingDialer counts the connections the client's transport holds open.
type countingDialer struct {
	net.Dialer
	open atomic.Int64
}

type countedConn struct {
	net.Conn
	once sync.Once
	open *atomic.Int64
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.open.Add(1)
	return &countedConn{Conn: conn, open: &d.open}, nil
}

// soakStats are the figures of a run, by outcome class.
type soakStats struct {
	mu       sync.Mutex
	calls    int
	faults   int
	classes  map[string]int
	created  map[kryptogo.ID]string // task id → customer reference, from successful Creates
	examples map[string]string
}

func (s *soakStats) record(class string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.classes[class]++
	if err != nil && s.examples[class] == "" {
		s.examples[class] = err.Error()
	}
}

// classify names the outcome of a call.
func classify(err error) string {
	var apiErr *kryptogo.APIError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, kryptogo.ErrRetryBudgetExhausted):
		return "retry budget exhausted"
	case errors.Is(err, kryptogo.ErrMaybeSent) && errors.As(err, &apiErr) && apiErr.StatusCode >= 500:
		return "POST answered 5xx (ErrMaybeSent)"
	case errors.Is(err, kryptogo.ErrMaybeSent):
		return "maybe sent, no answer"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("API error %d", apiErr.StatusCode)
	}
	return "other"
}

// soakCall runs one call of the mix, chosen by n.
func soakCall(ctx context.Context, c *kryptogo.Client, n int, seq *atomic.Int64, seeds soakSeeds, stats *soakStats) error {
	var err error
	switch n % 8 {
	case 0:
		ref := fmt.Sprintf("soak-%d", seq.Add(1))
		var got []kryptogo.CreatedTask
		got, err = c.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme " + ref), CustomerReference: ref}})
		if err == nil {
			stats.mu.Lock()
			for _, task := range got {
				stats.created[task.TaskID] = ref
			}
			stats.mu.Unlock()
		}
	case 1:
		_, err = c.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x" + strings.Repeat("7e", 20)})
	case 2:
		_, err = c.KYA.Get(ctx, seeds.kya)
	case 3:
		_, err = c.Tasks.Summary(ctx, seeds.task)
	case 4:
		_, err = c.Tasks.Get(ctx, seeds.task)
	case 5:
		err = c.Tasks.SetMetadata(ctx, seeds.task, []kryptogo.Metadata{{Key: "desk", Value: fmt.Sprint(n)}})
	case 6:
		_, err = c.Tasks.History(ctx, &kryptogo.HistoryOptions{PageSize: 5})
	default:
		_, err = c.IDV.Get(ctx, seeds.idv)
	}
	return err
}

type soakSeeds struct{ kya, task, idv kryptogo.ID }

// seed creates one KYA, one task and one IDV task for the reading calls.
func seed(t *testing.T, c *kryptogo.Client, stats *soakStats) soakSeeds {
	ctx := t.Context()
	kya, err := c.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x" + strings.Repeat("ab", 20)})
	require.NoError(t, err)
	tasks, err := c.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Seed"), CustomerReference: "seed"}})
	require.NoError(t, err)
	stats.created[tasks[0].TaskID] = "seed"
	idv, err := c.IDV.InitMobile(ctx, &kryptogo.InitMobileIDVRequest{Country: "TWN", CustomerReference: "seed"})
	require.NoError(t, err)
	return soakSeeds{kya: kya.KYAID, task: tasks[0].TaskID, idv: idv.IDVTaskID}
}

// settle waits, up to a generous bound, for cond to hold.
func settle(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestSoak(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	if *soakFor == 0 {
		t.Skip("a soak runs only when asked: go test -race -run TestSoak -soak 10s .")
	}
	goroutinesBefore := runtime.NumGoroutine()
	srv := kryptogotest.NewServer()
	dialer := &countingDialer{}
	transport := &http.Transport{DialContext: dialer.DialContext, MaxIdleConns: soakWorkers, MaxIdleConnsPerHost: soakWorkers}
	client := srv.Client(kryptogo.WithHTTPClient(&http.Client{Transport: transport}))
	stats := &soakStats{classes: map[string]int{}, created: map[kryptogo.ID]string{}, examples: map[string]string{}}
	seeds := seed(t, client, stats)

	faultStatuses := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError}
	var seq atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), *soakFor)
	defer cancel()
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 8))
			for n := w; ctx.Err() == nil; n++ {
				if rng.Float64() < soakFaultRate {
					srv.FailNext(1, faultStatuses[rng.IntN(len(faultStatuses))])
					stats.mu.Lock()
					stats.faults++
					stats.mu.Unlock()
				}
				// Each call runs to its end: the soak's deadline is not a fault.
				err := soakCall(t.Context(), client, n, &seq, seeds, stats)
				stats.record(classify(err), err)
			}
		}()
	}
	wg.Wait()

	assertCreatedOnce(t, srv, stats)
	client.CloseIdleConnections()
	srv.Close()
	assert.True(t, settle(func() bool { return dialer.open.Load() == 0 }), "connections left open: %d", dialer.open.Load())
	assert.True(t, settle(func() bool { return runtime.NumGoroutine() <= goroutinesBefore }),
		"goroutines: %d before, %d after", goroutinesBefore, runtime.NumGoroutine())
	report(t, stats, goroutinesBefore)
}

// assertCreatedOnce checks that the fake holds exactly the tasks the
// successful Creates returned, each customer's once: no Create was
// replayed, and none that failed created a task unseen.
func assertCreatedOnce(t *testing.T, srv *kryptogotest.Server, stats *soakStats) {
	t.Helper()
	inFake := map[kryptogo.ID]string{}
	for id := kryptogo.ID(1); ; id++ {
		task, ok := srv.Task(id)
		if !ok {
			break
		}
		inFake[id] = task.CustomerReference
	}
	assert.Equal(t, stats.created, inFake, "the fake's tasks are the successful Creates' receipts")
	perCustomer := map[string]int{}
	for _, ref := range inFake {
		perCustomer[ref]++
	}
	for ref, n := range perCustomer {
		assert.Equal(t, 1, n, "customer %s has %d tasks", ref, n)
	}
	// The fake answers an injected failure before creating anything, so
	// an ambiguous failure can only be a 5xx answer (the SDK cannot tell
	// that the API did not act): never one without an answer.
	assert.Zero(t, stats.classes["maybe sent, no answer"], stats.examples["maybe sent, no answer"])
	assert.Zero(t, stats.classes["other"], stats.examples["other"])
}

func report(t *testing.T, stats *soakStats, goroutinesBefore int) {
	classes := make([]string, 0, len(stats.classes))
	for class := range stats.classes {
		classes = append(classes, class)
	}
	sort.Strings(classes)
	var b strings.Builder
	for _, class := range classes {
		fmt.Fprintf(&b, "\n  %-34s %d", class, stats.classes[class])
	}
	t.Logf("soak %v, %d goroutines: %d calls, %d faults injected, %d tasks created, goroutines %d before / %d after%s",
		*soakFor, soakWorkers, stats.calls, stats.faults, len(stats.created), goroutinesBefore, runtime.NumGoroutine(), b.String())
}
