package kryptogo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/kyabc/kryptogo-go/internal/check"
)

// KYAService screens blockchain addresses ("know your address"): the API
// reports the address's matches on sanctions lists and its transactions.
type KYAService service

// CreateKYARequest asks for the analysis of one address.
type CreateKYARequest struct {
	// Address is the blockchain address to analyse. Required.
	Address string `json:"address"`
	// Chain is the address's chain. Left empty, the SDK detects it from the
	// address (0x and 40 hex digits: eth; 1…, 3… or bc1…: btc) and sends it.
	// A chain other than eth and btc is sent unchecked, since the API may add
	// chains before the SDK knows them.
	Chain Chain `json:"chain,omitempty"`
}

// KYAResult is the analysis of an address.
//
// The API documents no shape for data, sdnlist and txlist, and gives no risk
// score for an address; they are kept as raw JSON. SDNCount and TxCount count
// their entries.
type KYAResult struct {
	rawResponse
	KYAID             ID              `json:"kya_id"`
	Address           string          `json:"address"`
	Data              json.RawMessage `json:"data,omitempty"`
	SDNList           json.RawMessage `json:"sdnlist,omitempty"` // sanctions-list (OFAC SDN) entries matching the address
	TxList            json.RawMessage `json:"txlist,omitempty"`  // the address's transactions
	CreationTimestamp Timestamp       `json:"creation_timestamp"`
	CreatorAccount    string          `json:"creator_account"`
	CreatorEmail      string          `json:"creator_email"`
	CreatorName       string          `json:"creator_name"`
	CustomerReference string          `json:"customer_reference"` // null decodes as ""
}

func (r KYAResult) view() redactedView {
	return view("KYAResult", idAttr("kya_id", r.KYAID))
}

// String describes the result by its id, never the creator or the customer.
func (r KYAResult) String() string { return r.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the result never shows personal data.
func (r KYAResult) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the result as String describes it.
func (r KYAResult) LogValue() slog.Value { return r.view().logValue() }

// SDNEntries returns the entries of SDNList, or nil when it is not an array.
func (r *KYAResult) SDNEntries() []json.RawMessage { return rawArray(r.SDNList) }

// SDNCount returns how many sanctions-list entries match the address.
func (r *KYAResult) SDNCount() int { return len(r.SDNEntries()) }

// TxEntries returns the entries of TxList, or nil when it is not an array.
func (r *KYAResult) TxEntries() []json.RawMessage { return rawArray(r.TxList) }

// TxCount returns how many transactions the result lists.
func (r *KYAResult) TxCount() int { return len(r.TxEntries()) }

// ConsoleURL returns the page of the result in the KryptoGO web console.
func (r *KYAResult) ConsoleURL() string {
	return "https://app.kryptogo.com/compliance/addresses/" + r.KYAID.String()
}

func rawArray(raw json.RawMessage) []json.RawMessage {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil
	}
	return items
}

// DetectChain returns the chain an address belongs to, judged by its form:
// 0x and 40 hex digits is eth; a base58 address starting 1 or 3, or a bech32
// address starting bc1, is btc. It reports false for any other form.
func DetectChain(address string) (Chain, bool) {
	address = strings.TrimSpace(address)
	switch {
	case check.IsETHAddress(address):
		return ChainETH, true
	case check.IsBTCAddress(address):
		return ChainBTC, true
	}
	return "", false
}

// defaults fills in the chain detected from the address when none is given.
func (r *CreateKYARequest) defaults() {
	if r.Chain == "" {
		r.Chain, _ = DetectChain(r.Address)
	}
}

// validate checks the address, and that it belongs to the chain when the
// chain is one the SDK knows.
func (r *CreateKYARequest) validate(v *validator) {
	if !v.required("address", r.Address) {
		return
	}
	if strings.TrimSpace(r.Address) != r.Address {
		v.add("address", "has surrounding white space")
		return
	}
	switch {
	case r.Chain == "":
		v.add("chain", "cannot be detected from the address: it is neither an eth (0x + 40 hex) nor a btc address; set chain")
	case strings.EqualFold(string(r.Chain), string(ChainETH)):
		if !check.IsETHAddress(r.Address) {
			v.add("address", "is not an eth address (0x followed by 40 hex digits)")
		}
	case strings.EqualFold(string(r.Chain), string(ChainBTC)):
		if !check.IsBTCAddress(r.Address) {
			v.add("address", "is not a mainnet btc address (1…, 3… or bc1…)")
		}
	}
}

// Create analyses an address and returns the latest result with its kya_id.
// The chain is detected from the address when not given.
//
// API: POST /kya
func (s *KYAService) Create(ctx context.Context, req *CreateKYARequest, opts ...Option) (*KYAResult, error) {
	valid, err := prepare(req)
	if err != nil {
		return nil, err
	}
	return s.create(ctx, valid, opts)
}

// create sends a request that was validated and given its defaults: the
// one send of Create and Screen, which validates each request only once.
func (s *KYAService) create(ctx context.Context, valid *CreateKYARequest, opts []Option) (*KYAResult, error) {
	return sendJSON[KYAResult](ctx, s.client, http.MethodPost, "/kya", valid, nil, opts)
}

// Get fetches a KYA result by its kya_id.
//
// API: GET /kya/detail/{kya_id}
func (s *KYAService) Get(ctx context.Context, id ID, opts ...Option) (*KYAResult, error) {
	return getByID[KYAResult](ctx, s.client, "/kya/detail/{kya_id}", id, opts)
}

// DefaultScreenConcurrency is how many screenings KYAService.Screen runs at
// once unless ScreenOptions.Concurrency says otherwise: enough to screen a
// hundred addresses in a few round trips, few enough not to trip the API's
// rate limit on its own.
const DefaultScreenConcurrency = 8

// ScreenOptions tunes KYAService.Screen; nil means the defaults.
type ScreenOptions struct {
	// Concurrency is how many screenings run at once; 0 or less means
	// DefaultScreenConcurrency.
	Concurrency int
	// RateLimiter, when set, is waited on once before each screening is
	// sent, such as a limiter shared with other batches or other replicas.
	// The client's own WithRateLimiter still paces every attempt.
	RateLimiter RateLimiter
	// Progress, when set, is called after each item is done (screened,
	// failed, invalid or cancelled), with how many are done and how many
	// there are. Calls come from Screen's goroutines, one at a time, with
	// done counting up; keep it quick, the batch waits for it.
	Progress func(done, total int)
}

// ScreenResult is the outcome of one item of a KYAService.Screen batch:
// Result, or Err, which is the item's own error.
type ScreenResult struct {
	Request CreateKYARequest // the item as given
	Result  *KYAResult       // nil when Err is set
	Err     error
}

// LogValue logs the result as its KYAResult's id, or its error: never the
// address, nor the creator's name and email the result holds.
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

// Screen analyses many addresses with bounded concurrency and returns one
// result per request, in the order of reqs. Each item fails alone: every
// request is validated first, and an invalid one gets its *ValidationError
// without costing a request. Items share the client's flow control: a 429's
// Retry-After pauses every worker, and the retry budget is the client's.
// When ctx ends, no further item is sent, and those not sent get an error
// matching ctx.Err(). Each screening is a Create and costs points.
//
// callOpts apply to every screening. WithResponseInfo is refused (the
// screenings run concurrently, so no answer is the last): a call given it,
// or any invalid option, fails every item with that error and sends nothing.
//
// API: POST /kya, once for each valid request
func (s *KYAService) Screen(ctx context.Context, reqs []CreateKYARequest, opts *ScreenOptions, callOpts ...Option) []ScreenResult {
	b := &screenBatch{kya: s, callOpts: callOpts, results: make([]ScreenResult, len(reqs))}
	if opts != nil {
		b.opts = *opts
	}
	for i, req := range reqs {
		b.results[i].Request = req
	}
	if err := checkScreen(ctx, s.client, callOpts); err != nil {
		for i := range reqs {
			b.finish(i, nil, err)
		}
		return b.results
	}
	b.run(ctx, b.validate())
	return b.results
}

// checkScreen returns why a Screen call cannot start, if anything.
func checkScreen(ctx context.Context, c *Client, callOpts []Option) error {
	if ctx == nil {
		return errors.New("kryptogo: KYA.Screen: nil context")
	}
	cfg, err := c.config(callOpts)
	if err != nil {
		return err
	}
	if cfg.info != nil {
		return errors.New("kryptogo: KYA.Screen: WithResponseInfo cannot be given to a batch whose requests run concurrently; give it to KYA.Create")
	}
	return nil
}

// screenBatch is one run of Screen. Each worker writes only the results of
// the items it took; done and Progress are guarded by mu.
type screenBatch struct {
	kya      *KYAService
	opts     ScreenOptions
	callOpts []Option // given to each Create
	results  []ScreenResult
	valid    []*CreateKYARequest // per item: the request validated, with its defaults
	mu       sync.Mutex
	done     int
}

// validate finishes the invalid items and returns the indices of the rest.
func (b *screenBatch) validate() []int {
	todo := make([]int, 0, len(b.results))
	b.valid = make([]*CreateKYARequest, len(b.results))
	for i := range b.results {
		valid, err := prepare(&b.results[i].Request)
		if err != nil {
			b.finish(i, nil, err)
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
			b.finish(j, nil, notSent(ctx.Err()))
		}
		return
	}
}

// screen sends item i, unless ctx ended while it waited for a worker.
func (b *screenBatch) screen(ctx context.Context, i int) {
	if err := ctx.Err(); err != nil {
		b.finish(i, nil, notSent(err))
		return
	}
	if b.opts.RateLimiter != nil {
		if err := b.opts.RateLimiter.Wait(ctx); err != nil {
			b.finish(i, nil, notSent(fmt.Errorf("rate limiter: %w", err)))
			return
		}
	}
	res, err := b.kya.create(ctx, b.valid[i], b.callOpts)
	b.finish(i, res, err)
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
