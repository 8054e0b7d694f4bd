package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// DefaultScreenConcurrency is KYAService.Screen's default concurrency.
const DefaultScreenConcurrency = 8

// ScreenOptions tunes KYAService.Screen; nil means the defaults.
type ScreenOptions struct {
	Concurrency int                   // screenings at once; 0 or less: DefaultScreenConcurrency
	RateLimiter RateLimiter           // waited on before each screening, besides the client's
	Progress    func(done, total int) // after each item, one call at a time; keep it quick
}

// ScreenResult is the outcome of one item of KYAService.Screen.
type ScreenResult struct {
	Request CreateKYARequest // the item as given
	Result  *KYAResult       // nil when Err is set
	Err     error
	Info    ResponseInfo // its last answer, as WithResponseInfo gives it
}

// LogValue logs the result's id or its error.
func (r ScreenResult) LogValue() slog.Value {
	var attrs []slog.Attr
	if r.Result != nil {
		attrs = append(attrs, slog.Any("result", *r.Result))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("error", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Screen analyses many addresses with bounded concurrency, one POST /kya
// each, and returns one result per request in order. Each item fails alone:
// an invalid one costs nothing. WithResponseInfo is refused (see Info).
func (s *KYAService) Screen(ctx context.Context, reqs []CreateKYARequest, opts *ScreenOptions, callOpts ...Option) []ScreenResult {
	b := &screenBatch{kya: s, callOpts: callOpts, results: make([]ScreenResult, len(reqs))}
	if opts != nil {
		b.opts = *opts
	}
	for i, req := range reqs {
		b.results[i].Request = req
	}
	cfg, err := checkScreen(ctx, s.client, callOpts)
	if err != nil {
		for i := range reqs {
			b.finish(i, nil, s.client.refuse(ctx, &opKYAScreen, nil, err))
		}
		return b.results
	}
	b.cfg = cfg
	b.run(ctx, b.validate(ctx))
	return b.results
}

// checkScreen returns the configuration of a Screen call's items, or why
// the call cannot start.
func checkScreen(ctx context.Context, c *Client, callOpts []Option) (*callConfig, error) {
	if ctx == nil {
		return nil, errors.New("kryptogo: KYA.Screen: nil context")
	}
	cfg, err := c.config(callOpts)
	if err != nil {
		return nil, err
	}
	if cfg.info != nil {
		return nil, errors.New("kryptogo: KYA.Screen: WithResponseInfo cannot be given to a batch: each ScreenResult has its own Info")
	}
	return cfg, nil
}

// screenBatch is one run of Screen. Each worker writes only the results of
// the items it took; done and Progress are guarded by mu.
type screenBatch struct {
	kya      *KYAService
	opts     ScreenOptions
	callOpts []Option    // given to each Create
	cfg      *callConfig // callOpts over the client's, for the items never sent
	results  []ScreenResult
	valid    []*CreateKYARequest // per item: the request validated, with its defaults
	mu       sync.Mutex
	done     int
}

// validate finishes the invalid items and returns the indices of the rest.
func (b *screenBatch) validate(ctx context.Context) []int {
	todo := make([]int, 0, len(b.results))
	b.valid = make([]*CreateKYARequest, len(b.results))
	for i := range b.results {
		valid, err := prepare(&b.results[i].Request)
		if err != nil {
			b.finish(i, nil, b.unsent(ctx, err))
			continue
		}
		b.valid[i] = valid
		todo = append(todo, i)
	}
	return todo
}

// run screens the items todo with at most Concurrency workers, and stops
// handing out items when ctx ends.
func (b *screenBatch) run(ctx context.Context, todo []int) {
	workers := b.opts.Concurrency
	if workers <= 0 {
		workers = DefaultScreenConcurrency
	}
	items := make(chan int) // unbuffered: an item is handed out only to a free worker
	var wg sync.WaitGroup
	for range min(workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				b.screen(ctx, i)
			}
		}()
	}
	defer wg.Wait()
	defer close(items)
	for n, i := range todo {
		if ctx.Err() == nil {
			select {
			case items <- i:
				continue
			case <-ctx.Done():
			}
		}
		for _, j := range todo[n:] {
			b.finish(j, nil, b.unsent(ctx, notSent(ctx.Err())))
		}
		return
	}
}

// screen sends item i, unless ctx ended while it waited for a worker.
func (b *screenBatch) screen(ctx context.Context, i int) {
	if err := ctx.Err(); err != nil {
		b.finish(i, nil, b.unsent(ctx, notSent(err)))
		return
	}
	if b.opts.RateLimiter != nil {
		if err := b.opts.RateLimiter.Wait(ctx); err != nil {
			b.finish(i, nil, b.unsent(ctx, notSent(fmt.Errorf("rate limiter: %w", err))))
			return
		}
	}
	opts := append(b.callOpts[:len(b.callOpts):len(b.callOpts)], WithResponseInfo(&b.results[i].Info))
	res, err := b.kya.create(ctx, &opKYAScreen, b.valid[i], opts)
	b.finish(i, res, err)
}

// unsent returns err, the failure of an item never sent, and reports it
// to the batch's observers as a call of its own.
func (b *screenBatch) unsent(ctx context.Context, err error) error {
	return b.kya.client.refuseWith(ctx, b.cfg, &opKYAScreen, err)
}

func notSent(err error) error { return fmt.Errorf("kryptogo: POST /kya: not sent: %w", err) }

func (b *screenBatch) finish(i int, res *KYAResult, err error) {
	b.results[i].Result, b.results[i].Err = res, err
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	if b.opts.Progress != nil {
		b.opts.Progress(b.done, len(b.results))
	}
}
