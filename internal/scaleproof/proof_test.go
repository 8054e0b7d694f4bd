package scaleproof

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// workers is how many OS processes each scenario runs.
const workers = 4

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) != "" {
		os.Exit(runWorker())
	}
	os.Exit(m.Run())
}

// figures collects the printed results, shown together at the end.
var figures struct {
	sync.Mutex
	lines []string
}

// report logs a figure and keeps it for the summary.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	figures.Lock()
	figures.lines = append(figures.lines, t.Name()+": "+line)
	figures.Unlock()
}

// needServers returns Redis's address and PostgreSQL's DSN, or skips the
// test without them (fails, with KRYPTOGO_SCALEPROOF=1).
func needServers(t *testing.T) (string, string) {
	redisAddr, dsn := os.Getenv(envRedis), os.Getenv(envPostgres)
	if redisAddr != "" && dsn != "" {
		return redisAddr, dsn
	}
	msg := "the scale proof needs " + envRedis + " and " + envPostgres + "; run it as\n" +
		"\tscripts/services.sh run redis postgres -- sh -c 'cd internal/scaleproof && KRYPTOGO_SCALEPROOF=1 go test -count=1 -v .'"
	if os.Getenv("KRYPTOGO_SCALEPROOF") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return "", ""
}

// TestScaleProof runs the four scenarios one after another, each with 4
// worker processes, and prints their figures.
func TestScaleProof(t *testing.T) {
	needServers(t)
	t.Cleanup(func() {
		figures.Lock()
		defer figures.Unlock()
		fmt.Println("\n== scale proof figures (" + strconv.Itoa(workers) + " OS processes, one kryptogo-fake, real Redis and PostgreSQL)")
		for _, l := range figures.lines {
			fmt.Println("  " + l)
		}
	})
	t.Run("SharedLimit", testSharedLimit)
	t.Run("SharedPause", testSharedPause)
	// A killed process's keys stay held for their 2-minute lease: the two
	// stores' runs wait for it side by side.
	t.Run("IdempotencyKeys", func(t *testing.T) {
		for _, store := range []string{"redis", "postgres"} {
			t.Run(store, func(t *testing.T) {
				t.Parallel()
				testIdempotencyKeys(t, store)
			})
		}
	})
	t.Run("CallbackInbox/postgres", testCallbackInbox)
}

// fake starts a kryptogo-fake server and the recording front before it.
func fake(t *testing.T, opts ...kryptogotest.Option) (*kryptogotest.Server, *front) {
	t.Helper()
	srv, err := kryptogotest.Listen("127.0.0.1:0", opts...)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv, newFront(t, srv.URL)
}

// uniquePrefix names a scenario's keys or tables, so runs never meet.
func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "proof_" + hex.EncodeToString(b[:]) + "_"
}

// oneTask creates the task the GET scenarios read.
func oneTask(t *testing.T, srv *kryptogotest.Server) kryptogo.ID {
	t.Helper()
	created, err := srv.Client().Tasks.CreateOne(t.Context(), kryptogo.CreateTaskRequest{SearchSettingID: 2,
		Target: kryptogo.KYCTarget("Proof Reader", "1985-01-31", "TWN"), CustomerReference: "proof-reader"})
	require.NoError(t, err)
	return created.TaskID
}

// baseEnv is the environment every worker of a scenario shares.
func baseEnv(scenario, store string, f *front, srv *kryptogotest.Server) map[string]string {
	return map[string]string{envWorker: scenario, envStore: store, envBase: f.srv.URL, envAPIKey: srv.APIKey, envPrefix: uniquePrefix()}
}

// startAll starts the workers and waits until each reports ready.
func startAll(t *testing.T, env map[string]string, ready string, onLine func(*proc, string)) []*proc {
	t.Helper()
	procs := make([]*proc, workers)
	for i := range procs {
		procs[i] = startProc(t, i, env, onLine)
	}
	for _, p := range procs {
		p.waitLine(t, ready, time.Minute)
	}
	return procs
}

// testSharedLimit: 4 processes read as fast as one Redis limiter of 20
// requests a second lets them, for 10 s, against a fake whose limit (the
// API's) is 22 requests in any sliding second. The limiter spaces the
// slots 50 ms apart on Redis's clock, but a request reaches the API some
// milliseconds after its slot, more on a busy machine (2 cores shared by
// the workers, Redis, PostgreSQL, the fake and other jobs): a late request
// and an early one can land 21 or 22 in one second. Hence the README's
// advice, a shared limit 10% under the API's, and this fake's.
func testSharedLimit(t *testing.T) {
	srv, f := fake(t, kryptogotest.WithRateLimit(22, time.Second))
	env := baseEnv("limit", "redis", f, srv)
	env[envTask] = strconv.FormatInt(int64(oneTask(t, srv)), 10)
	start := time.Now().Add(3 * time.Second) // after the processes start
	end := start.Add(10 * time.Second)
	env[envFrom] = strconv.FormatInt(start.UnixNano(), 10)
	env[envUntil] = strconv.FormatInt(end.UnixNano(), 10)
	f.take()
	procs := startAll(t, env, "READY", nil)
	for _, p := range procs {
		p.wait(t, time.Minute)
	}
	hits := f.take()
	var times []time.Time
	perWorker := make([]int, workers)
	limited := 0
	for _, h := range hits {
		if h.worker < 0 {
			continue
		}
		times = append(times, h.at)
		perWorker[h.worker]++
		if h.status == 429 {
			limited++
		}
	}
	require.NotEmpty(t, times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	span := times[len(times)-1].Sub(times[0])
	perSecond := seconds(times, times[0])
	maxWindow := maxInWindow(times, time.Second)
	mean := float64(len(times)) / span.Seconds()
	report(t, "limiter 20/s shared through Redis, fake limit 22 in any 1 s: %d requests from %d processes %v over %.1f s: %.1f/s on average; per second %v; most in any 1 s window: %d; 429s: %d (%.2f%%)",
		len(times), workers, perWorker, span.Seconds(), mean, perSecond, maxWindow, limited, 100*float64(limited)/float64(len(times)))
	assert.LessOrEqual(t, mean, 21.0, "aggregate rate")
	for i, n := range perSecond {
		// GCRA admits 21 in a second closed at both ends; one more is a
		// request whose predecessor arrived late.
		assert.LessOrEqual(t, n, 22, "second %d", i)
	}
	assert.LessOrEqual(t, float64(limited), 0.01*float64(len(times)), "429s at most 1%")
	assert.GreaterOrEqual(t, len(times), 180, "the limit is used: about 20 a second for 10 s")
}

// seconds counts the times in each whole second from start.
func seconds(times []time.Time, start time.Time) []int {
	var out []int
	for _, at := range times {
		i := int(at.Sub(start) / time.Second)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

// maxInWindow is the most times in any window [t, t+w) (times sorted).
func maxInWindow(times []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// testSharedPause: 4 processes read every 20 ms on clients sharing their
// pause through Redis; the front answers one request of worker 0 with 429
// and Retry-After: 2. The other three must send nothing until the pause
// worker 0 recorded ends, but for attempts whose read of the store began
// before it was recorded (each stamps when its read began).
func testSharedPause(t *testing.T) {
	srv, f := fake(t)
	env := baseEnv("pause", "redis", f, srv)
	env[envTask] = strconv.FormatInt(int64(oneTask(t, srv)), 10)
	end := time.Now().Add(9 * time.Second)
	env[envUntil] = strconv.FormatInt(end.UnixNano(), 10)
	procs := startAll(t, env, "READY", nil)
	time.Sleep(time.Second) // every process is sending
	tr := f.arm(0, 2)
	select {
	case <-tr.done:
	case <-time.After(10 * time.Second):
		t.Fatal("worker 0 sent nothing")
	}
	line := procs[0].waitLine(t, "PAUSE ", 10*time.Second)
	var recordedNs, endNs, pauseNs int64
	_, err := fmt.Sscanf(line, "PAUSE %d %d %d", &recordedNs, &endNs, &pauseNs)
	require.NoError(t, err)
	recorded, pauseEnd := time.Unix(0, recordedNs), time.Unix(0, endNs)
	for _, p := range procs {
		p.wait(t, time.Minute)
	}
	hits := f.take()
	var during, inFlight, worker0During, unstamped int
	var firstAfter time.Time
	for _, h := range hits {
		// An attempt may go when its read of the store began before the
		// pause was recorded (it may have missed it, the read and the send
		// are not one step), however late it arrives; one whose read began
		// after must wait for the pause's end.
		decided := h.read
		if decided.IsZero() {
			decided = h.at
			if h.worker > 0 {
				unstamped++
			}
		}
		switch {
		case h.worker == 0 && h.at.After(tr.sprung) && h.at.Before(pauseEnd):
			worker0During++
		case h.worker <= 0:
		case h.at.After(tr.sprung) && !decided.After(recorded):
			inFlight++
		case decided.After(recorded) && h.at.Before(pauseEnd):
			during++
		case !h.at.Before(pauseEnd) && (firstAfter.IsZero() || h.at.Before(firstAfter)):
			firstAfter = h.at
		}
	}
	report(t, "429 Retry-After: 2 to worker 0; pause recorded %v after the 429, lasting %v; requests of the other 3 processes during the pause: %d (their pause read began before it was recorded: %d); of worker 0: %d; first request of the others %v after the 429 (%v after the pause's end)",
		recorded.Sub(tr.sprung).Round(time.Microsecond), pauseEnd.Sub(recorded).Round(time.Millisecond), during, inFlight, worker0During,
		firstAfter.Sub(tr.sprung).Round(time.Millisecond), firstAfter.Sub(pauseEnd).Round(time.Millisecond))
	assert.Zero(t, during, "the other processes send nothing during the pause")
	assert.Zero(t, unstamped, "every attempt of the others says when its pause read began")
	assert.Zero(t, worker0During)
	assert.Equal(t, int64(2*time.Second), pauseNs)
	assert.False(t, firstAfter.IsZero(), "the others resume after the pause")
}

// faults20 answers 20% of requests with a fault: a 503 before the fake
// acts, a 500 or a dropped connection after it acted (a create in doubt),
// or a connection dropped before.
func faults20(kryptogotest.Request) kryptogotest.Fault {
	var b [2]byte
	_, _ = rand.Read(b[:])
	n := (int(b[0])<<8 | int(b[1])) % 100
	switch {
	case n < 5:
		return kryptogotest.Fault{Status: 503}
	case n < 10:
		return kryptogotest.Fault{Status: 500, AfterHandling: true}
	case n < 15:
		return kryptogotest.Fault{Drop: true, AfterHandling: true}
	case n < 20:
		return kryptogotest.Fault{Drop: true}
	}
	return kryptogotest.Fault{}
}

// testIdempotencyKeys: 300 keys, each created by two processes, 20% of
// requests faulty, one process SIGKILLed mid-run and restarted: exactly
// 300 tasks in the fake.
func testIdempotencyKeys(t *testing.T, store string) {
	_, dsn := needServers(t)
	srv, f := fake(t)
	srv.SetFaultFunc(faults20)
	env := baseEnv("keys", store, f, srv)
	if store == "postgres" {
		migrate(t, dsn, env[envPrefix])
	}
	const keys = 300
	lists := make([][]string, workers)
	for k := range keys {
		for _, w := range []int{k % workers, (k + 1) % workers} {
			lists[w] = append(lists[w], strconv.Itoa(k))
		}
	}
	procs := make([]*proc, workers)
	for i := range procs {
		e := maps(env, envKeys, strings.Join(lists[i], ","))
		procs[i] = startProc(t, i, e, nil)
	}
	// Kill worker 2 once it has done 40 of its keys, and start it again.
	const victim = 2
	require.Eventually(t, func() bool { return len(procs[victim].linesWith("DONE ")) >= 40 }, 3*time.Minute, 5*time.Millisecond)
	procs[victim].kill()
	doneBeforeKill := len(procs[victim].linesWith("DONE "))
	restarted := startProc(t, victim, maps(env, envKeys, strings.Join(lists[victim], ",")), nil)
	for _, p := range append(procs, restarted) {
		if p == procs[victim] {
			continue
		}
		p.wait(t, 6*time.Minute)
	}
	taskOf := map[int]kryptogo.ID{}
	reports, conflicts, failed, attempts := 0, 0, 0, 0
	for _, p := range append(procs, restarted) {
		for _, l := range p.linesWith("DONE ") {
			var k, attempt int
			var id int64
			_, err := fmt.Sscanf(l, "DONE %d %d %d", &k, &id, &attempt)
			require.NoError(t, err)
			reports++
			attempts += attempt
			if prev, ok := taskOf[k]; ok && prev != kryptogo.ID(id) {
				conflicts++
			}
			taskOf[k] = kryptogo.ID(id)
		}
		failed += len(p.linesWith("FAIL "))
	}
	tasks := srv.Tasks()
	names := map[string]int{}
	for _, task := range tasks {
		names[task.Target.Name]++
	}
	posts, faults := 0, 0
	for _, r := range srv.Requests() {
		if r.Method == "POST" {
			posts++
		}
		if r.Fault != (kryptogotest.Fault{}) {
			faults++
		}
	}
	report(t, "%d keys × 2 processes (%s store), %d requests of which %d faulty (%.0f%%), %d POSTs; worker %d SIGKILLed after %d keys and restarted; %d reports (%d calls), %d keys done, %d keys answered two task ids, %d gave up; tasks in the fake: %d for %d targets",
		keys, store, len(srv.Requests()), faults, 100*float64(faults)/float64(len(srv.Requests())), posts, victim, doneBeforeKill,
		reports, attempts, len(taskOf), conflicts, failed, len(tasks), len(names))
	assert.Len(t, tasks, keys, "exactly one task per key")
	assert.Len(t, names, keys)
	assert.Len(t, taskOf, keys, "every key done")
	assert.Zero(t, conflicts)
	assert.Zero(t, failed)
}

// maps returns env with k set to v.
func maps(env map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for key, val := range env {
		out[key] = val
	}
	out[k] = v
	return out
}

// migrate creates the SQL store's tables under prefix.
func migrate(t *testing.T, dsn, prefix string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, sqlstore.New(db, sqlstore.Postgres, sqlstore.WithTablePrefix(prefix)).Migrate(context.Background()))
	return db
}
