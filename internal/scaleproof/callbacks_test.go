package scaleproof

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callbackBodies returns n task callbacks, each of its own task.
func callbackBodies(t *testing.T, n int) [][]byte {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/callback_task.json")
	require.NoError(t, err)
	bodies := make([][]byte, n)
	for i := range bodies {
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		m["task_id"] = 100000 + i
		bodies[i], err = json.Marshal(m)
		require.NoError(t, err)
	}
	return bodies
}

// inbox tracks the callback workers: their addresses, and the runs of
// OnTask each has under way (BEGIN without END).
type inbox struct {
	mu      sync.Mutex
	addrs   map[int]string // live workers' addresses
	running map[*proc]int
}

func (ib *inbox) onLine(p *proc, line string) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	switch {
	case strings.HasPrefix(line, "LISTEN "):
		ib.addrs[p.index] = strings.TrimPrefix(line, "LISTEN ")
	case strings.HasPrefix(line, "BEGIN "):
		ib.running[p]++
	case strings.HasPrefix(line, "END "):
		ib.running[p]--
	}
}

// pick returns a random live worker's address.
func (ib *inbox) pick() string {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	var addrs []string
	for _, a := range ib.addrs {
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return ""
	}
	return addrs[rand.IntN(len(addrs))]
}

// testCallbackInbox: 1,000 callbacks, each delivered twice to random
// processes whose CallbackHandlers share a PostgreSQL inbox; OnTask writes
// a row in the transaction that completes the callback; one process is
// SIGKILLed while handlers run in it, and started again. Every callback's
// row must be there exactly once.
func testCallbackInbox(t *testing.T) {
	_, dsn := needServers(t)
	env := map[string]string{envWorker: "callbacks", envStore: "postgres", envPrefix: uniquePrefix()}
	db := migrate(t, dsn, env[envPrefix])
	effects := env[envPrefix] + "effects"
	env[envEffects] = effects
	_, err := db.ExecContext(t.Context(), "CREATE TABLE "+effects+" (key text NOT NULL, worker int NOT NULL)")
	require.NoError(t, err)

	ib := &inbox{addrs: map[int]string{}, running: map[*proc]int{}}
	procs := startAll(t, env, "LISTEN ", ib.onLine)

	const callbacks = 1000
	bodies := callbackBodies(t, callbacks)
	deliveries := make([]int, 0, 2*callbacks)
	for i := range callbacks {
		deliveries = append(deliveries, i, i)
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var statuses sync.Map // status → *atomic.Int64
	count := func(status int) {
		v, _ := statuses.LoadOrStore(status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var delivered atomic.Int64
	next := make(chan int)
	go func() {
		defer close(next)
		for _, d := range deliveries {
			next <- d
		}
	}()
	deadline := time.Now().Add(5 * time.Minute)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				for time.Now().Before(deadline) {
					status, wait := deliver(hc, ib.pick(), bodies[d])
					count(status)
					if status == http.StatusNoContent {
						delivered.Add(1)
						break
					}
					time.Sleep(wait)
				}
			}
		}()
	}

	// Kill worker 1 while handlers run in it, once 600 deliveries are done.
	const victim = 1
	require.Eventually(t, func() bool { return delivered.Load() >= 600 }, 3*time.Minute, time.Millisecond)
	var midRun int
	require.Eventually(t, func() bool {
		ib.mu.Lock()
		defer ib.mu.Unlock()
		if midRun = ib.running[procs[victim]]; midRun > 0 {
			delete(ib.addrs, victim)
			_ = procs[victim].cmd.Process.Kill() // SIGKILL
			return true
		}
		return false
	}, time.Minute, 100*time.Microsecond)
	<-procs[victim].exited
	killedAt := time.Now()
	restarted := startProc(t, victim, env, ib.onLine)
	restarted.waitLine(t, "LISTEN ", time.Minute)
	wg.Wait()
	took := time.Since(killedAt)

	for _, p := range append(procs, restarted) {
		if p != procs[victim] {
			_ = p.stdin.Close()
			p.wait(t, time.Minute)
		}
	}
	var rows, keys int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*), count(DISTINCT key) FROM "+effects).Scan(&rows, &keys))
	var byStatus []string
	statuses.Range(func(k, v any) bool {
		byStatus = append(byStatus, strconv.Itoa(k.(int))+": "+strconv.FormatInt(v.(*atomic.Int64).Load(), 10))
		return true
	})
	report(t, "%d callbacks × 2 deliveries to random processes (PostgreSQL inbox, effect committed with the completion); worker %d SIGKILLed with %d handlers mid-run, the rest delivered in %.1f s after; answers by status {%s}; effect rows: %d for %d callbacks",
		callbacks, victim, midRun, took.Seconds(), strings.Join(byStatus, ", "), rows, keys)
	assert.Equal(t, int64(2*callbacks), delivered.Load(), "every delivery acknowledged")
	assert.Equal(t, callbacks, keys, "every callback's effect")
	assert.Equal(t, callbacks, rows, "exactly once")
}

// deliver posts one callback to addr, and returns the status (0 for no
// answer) and how long to wait before a retry.
func deliver(hc *http.Client, addr string, body []byte) (int, time.Duration) {
	if addr == "" {
		return 0, 50 * time.Millisecond
	}
	resp, err := hc.Post("http://"+addr+"/callback", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, 20 * time.Millisecond
	}
	_ = resp.Body.Close()
	wait := 50 * time.Millisecond
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		// A busy claim's Retry-After is what is left of its lease (up to
		// 30 s): come back within a second, to another process maybe.
		wait = min(time.Duration(s)*time.Second, time.Second)
	}
	return resp.StatusCode, wait
}
