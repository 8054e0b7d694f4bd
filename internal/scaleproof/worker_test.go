package scaleproof

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/redis/go-redis/v9"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/redisstore"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// The environment of a worker process (the driver sets it; the servers'
// addresses are inherited from scripts/services.sh).
const (
	envWorker   = "SCALEPROOF_WORKER" // the scenario: limit, pause, keys, callbacks
	envIndex    = "SCALEPROOF_INDEX"  // the worker's number, 0 to 3
	envBase     = "SCALEPROOF_BASE"   // the front's URL
	envAPIKey   = "SCALEPROOF_API_KEY"
	envStore    = "SCALEPROOF_STORE"  // redis or postgres
	envPrefix   = "SCALEPROOF_PREFIX" // the store's key or table prefix
	envFrom     = "SCALEPROOF_FROM"   // unix nanoseconds: when limit starts
	envUntil    = "SCALEPROOF_UNTIL"  // unix nanoseconds: when limit and pause stop
	envTask     = "SCALEPROOF_TASK"   // the task the GETs read
	envKeys     = "SCALEPROOF_KEYS"   // keys: the key numbers, comma-separated
	envEffects  = "SCALEPROOF_EFFECTS"
	envRedis    = "KRYPTOGO_REDIS_ADDR"
	envPostgres = "KRYPTOGO_POSTGRES_DSN"
)

// out writes the worker's report lines to stdout, one whole line at a time.
var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(out.w, format+"\n", args...)
	_ = out.w.Flush()
}

// runWorker runs the scenario its environment names, and returns the
// process's exit status.
func runWorker() int {
	ctx := context.Background()
	w, err := newWorker(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	switch os.Getenv(envWorker) {
	case "limit":
		err = w.limit(ctx)
	case "pause":
		err = w.pause(ctx)
	case "keys":
		err = w.keys(ctx)
	case "callbacks":
		err = w.callbacks(ctx)
	default:
		err = fmt.Errorf("unknown scenario %q", os.Getenv(envWorker))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	say("EXIT")
	return 0
}

type worker struct {
	index  int
	redis  *redisstore.Store // when the store is redis
	sql    *sqlstore.Store   // when it is postgres
	db     *sql.DB
	from   time.Time
	until  time.Time
	taskID kryptogo.ID
}

func newWorker(ctx context.Context) (*worker, error) {
	w := &worker{}
	var err error
	if w.index, err = strconv.Atoi(os.Getenv(envIndex)); err != nil {
		return nil, fmt.Errorf("%s: %w", envIndex, err)
	}
	for env, t := range map[string]*time.Time{envFrom: &w.from, envUntil: &w.until} {
		if s := os.Getenv(env); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			*t = time.Unix(0, n)
		}
	}
	if s := os.Getenv(envTask); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		w.taskID = kryptogo.ID(n)
	}
	switch os.Getenv(envStore) {
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis)})
		w.redis = redisstore.New(rdb, redisstore.WithPrefix(os.Getenv(envPrefix)))
	case "postgres":
		if w.db, err = sql.Open("pgx", os.Getenv(envPostgres)); err != nil {
			return nil, err
		}
		w.sql = sqlstore.New(w.db, sqlstore.Postgres, sqlstore.WithTablePrefix(os.Getenv(envPrefix)))
	default:
		return nil, fmt.Errorf("%s: want redis or postgres", envStore)
	}
	return w, nil
}

// client returns a client of the front, named by the worker's User-Agent,
// with the given options.
func (w *worker) client(opts ...kryptogo.Option) (*kryptogo.Client, error) {
	base := []kryptogo.Option{
		kryptogo.WithBaseURL(os.Getenv(envBase)),
		kryptogo.WithUserAgent(fmt.Sprintf("scaleproof-w%d/1", w.index)),
		kryptogo.WithRetryBackoff(20*time.Millisecond, 200*time.Millisecond),
	}
	return kryptogo.NewClient(os.Getenv(envAPIKey), append(base, opts...)...)
}

// pauseStore is the worker's store as a PauseStore.
func (w *worker) pauseStore() kryptogo.PauseStore {
	if w.redis != nil {
		return w.redis
	}
	return w.sql
}

// scopeRecorder is a PauseStore that remembers the scope of the last
// ExtendPause, and when the last PausedUntil started (the read that lets
// the next attempt go).
type scopeRecorder struct {
	kryptogo.PauseStore
	mu       sync.Mutex
	scope    string
	lastRead atomic.Int64 // Unix ns
}

// PausedUntil records when the read started and passes the call on.
func (r *scopeRecorder) PausedUntil(ctx context.Context, scope string) (time.Time, error) {
	r.lastRead.Store(time.Now().UnixNano())
	return r.PauseStore.PausedUntil(ctx, scope)
}

// stampRead is a Middleware that tells the front when the attempt's pause
// read started (headerRead): a read that began before the 429's pause was
// recorded may have missed it, one that began after must not have. The
// worker's calls are sequential, so the last read is this attempt's.
func (r *scopeRecorder) stampRead(req *http.Request, next kryptogo.MiddlewareNext) (*http.Response, error) {
	req.Header.Set(headerRead, strconv.FormatInt(r.lastRead.Load(), 10))
	return next(req)
}

// ExtendPause records the scope and passes the call on.
func (r *scopeRecorder) ExtendPause(ctx context.Context, scope string, until time.Time) (time.Time, error) {
	r.mu.Lock()
	r.scope = scope
	r.mu.Unlock()
	return r.PauseStore.ExtendPause(ctx, scope, until)
}

// extended returns the scope of the last ExtendPause.
func (r *scopeRecorder) extended() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scope
}

// limit reads a task from 4 goroutines as fast as the shared limiter of 20
// requests a second lets them, from the start time until the end time.
func (w *worker) limit(ctx context.Context) error {
	if w.redis == nil {
		return errors.New("limit needs the redis store")
	}
	c, err := w.client(kryptogo.WithRateLimiter(w.redis.Limiter("proof", 20, time.Second)), kryptogo.WithPauseStore(w.redis))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, w.until)
	defer cancel()
	say("READY")
	time.Sleep(time.Until(w.from))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, _ = c.Tasks.Summary(ctx, w.taskID)
			}
		}()
	}
	wg.Wait()
	return nil
}

// pause reads a task every 20 ms until the end time, on a client whose
// 429 pause is shared through the store; after its 429 it reports when it
// recorded the pause and when the pause ends.
func (w *worker) pause(ctx context.Context) error {
	// The client names its scope after its API key: the recorder learns it
	// from the client's own ExtendPause.
	store := &scopeRecorder{PauseStore: w.pauseStore()}
	obs := &kryptogo.Observer{AttemptDone: func(ctx context.Context, info kryptogo.AttemptDoneInfo) {
		if info.StatusCode != http.StatusTooManyRequests {
			return
		}
		recorded := time.Now() // observe wrote the store before the observer is told
		end, err := store.PausedUntil(ctx, store.extended())
		if err != nil {
			say("ERR pause store: %v", err)
			return
		}
		say("PAUSE %d %d %d", recorded.UnixNano(), end.UnixNano(), info.Pause)
	}}
	c, err := w.client(kryptogo.WithPauseStore(store), kryptogo.WithObserver(obs), kryptogo.WithMiddleware(store.stampRead))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, w.until)
	defer cancel()
	say("READY")
	for ctx.Err() == nil {
		_, _ = c.Tasks.Summary(ctx, w.taskID)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// keys creates the tasks of its keys, 4 at a time, each with its
// idempotency key, retrying on any error, and reports each key's task.
func (w *worker) keys(ctx context.Context) error {
	var store kryptogo.IdempotencyStore = w.redis
	if w.sql != nil {
		store = w.sql
	}
	c, err := w.client(kryptogo.WithIdempotencyStore(store), kryptogo.WithReconcileWait(500*time.Millisecond),
		kryptogo.WithPollInterval(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		return err
	}
	var keys []int
	for _, s := range strings.Split(os.Getenv(envKeys), ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		keys = append(keys, n)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	say("READY")
	next := make(chan int)
	go func() {
		defer close(next)
		for _, k := range keys {
			next <- k
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				w.createKey(ctx, c, k)
			}
		}()
	}
	wg.Wait()
	return nil
}

// createKey creates key k's task, retrying on any error until it is done.
func (w *worker) createKey(ctx context.Context, c *kryptogo.Client, k int) {
	req := kryptogo.CreateTaskRequest{
		SearchSettingID:   2,
		Target:            kryptogo.KYCTarget(fmt.Sprintf("Proof Target %d", k), "1985-01-31", "TWN"),
		CustomerReference: fmt.Sprintf("proof-customer-%d", k),
		IdempotencyKey:    fmt.Sprintf("proof-key-%d", k),
	}
	for attempt := 1; ; attempt++ {
		task, err := c.Tasks.CreateOne(ctx, req)
		if err == nil {
			say("DONE %d %d %d", k, task.TaskID, attempt)
			return
		}
		if ctx.Err() != nil {
			say("FAIL %d %v", k, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callbacks serves a CallbackHandler whose inbox is the SQL store: OnTask
// writes the effect row in the transaction that completes the callback.
// It reports each run's start and end, and serves until stdin closes.
func (w *worker) callbacks(ctx context.Context) error {
	if w.sql == nil {
		return errors.New("callbacks needs the postgres store")
	}
	effects := os.Getenv(envEffects)
	h := &kryptogo.CallbackHandler{AllowUnverified: true, Store: w.sql,
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			e, _ := kryptogo.CallbackFromContext(ctx)
			say("BEGIN %s", e.Key())
			err := w.sql.CallbackTx(ctx, e.Key(), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" (key, worker) VALUES ($1, $2)", e.Key(), w.index); err != nil {
					return err
				}
				time.Sleep(10 * time.Millisecond) // a handler's work: the kill lands mid-run
				return nil
			})
			if errors.Is(err, sqlstore.ErrCallbackDone) {
				err = nil
			}
			say("END %s", e.Key())
			return err
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	say("LISTEN %s", ln.Addr())
	// The driver closes stdin to end the worker.
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	return srv.Shutdown(ctx)
}
