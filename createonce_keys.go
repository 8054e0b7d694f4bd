package kryptogo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kyabc/kryptogo-go/internal/backoff"
)

// An idempotency key (the IdempotencyKey of a create request) makes a
// create happen at most once per key, across calls, clients and processes
// that share the client's IdempotencyStore, within the store's retention.
// This file holds the protocol every keyed create follows with the store:
// claim the key (or wait for its holder, or take its recorded result),
// renew the lease while the call runs, mark the key in doubt right before
// each send, record the outcome, release the key otherwise. What a key in
// doubt leads to is the resource's: tasks reconcile through the history
// (createonce.go); KYA and IDV, which the API cannot list, send nothing.

// IdempotencyParam is the callback URL parameter with the key's digest.
const IdempotencyParam = "kg_idem"

// MaxIdempotencyKeyLen is the longest IdempotencyKey, in characters.
const MaxIdempotencyKeyLen = 255

const (
	// defaultKeyLease is how long a create holds its key between renewals
	// (every third of it): a caller that crashed frees its key for another
	// after at most one lease.
	defaultKeyLease = 2 * time.Minute
	// keyCleanupTimeout bounds the store calls that end a create's hold on
	// its keys, which run even when the caller's ctx has ended: a key left
	// held blocks every other caller for a lease.
	keyCleanupTimeout = 10 * time.Second
)

// defaultKeyPoll is how often a create waiting for another caller that
// holds its key looks again, unless WithPollInterval says otherwise.
var defaultKeyPoll = backoff.Policy{Min: 50 * time.Millisecond, Max: time.Second}

// validateIdempotencyKey records a key that is not 1 to 255 printable ASCII
// characters (U+0020 to U+007E) without a space at either end. An empty key
// is no key. ASCII only: a key names a record in a shared store (Redis,
// SQL), and two Unicode spellings of one text would be two keys.
func validateIdempotencyKey(v *validator, key string) {
	const field = "idempotency_key"
	switch {
	case key == "":
	case len(key) > MaxIdempotencyKeyLen:
		v.addf(field, "is %d characters long; the longest is %d", len(key), MaxIdempotencyKeyLen)
	case strings.IndexFunc(key, func(r rune) bool { return r < ' ' || r > '~' }) >= 0:
		v.add(field, "must hold printable ASCII characters only (space to ~)")
	case key[0] == ' ' || key[len(key)-1] == ' ':
		v.add(field, "must not begin or end with a space")
	}
}

// keyDigest stands for an idempotency key where the key itself must not go:
// the kg_idem parameter of a callback URL, the owner records of tasks. It
// is 24 characters of base64url (144 bits of SHA-256).
func keyDigest(key string) string {
	sum := sha256.Sum256([]byte("kryptogo-idempotency-key-v1\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// fingerprint returns the fingerprint of a request under a key: an
// HMAC-SHA256, keyed with the client's API key, of op (the endpoint) and
// what write writes (the request as sent, without its key). Keyed: a store
// shared by other teams holds nothing that tells whether a guessed name
// was sent, and a key a client of another API account reused does not
// match (it is refused, not answered with the other account's result).
func (c *Client) fingerprint(op string, write func(h hash.Hash) error) (string, error) {
	h := hmac.New(sha256.New, []byte(c.creds.key()))
	writePart(h, []byte("kryptogo-request-fingerprint-v1"))
	writePart(h, []byte(op))
	if err := write(h); err != nil {
		return "", err
	}
	return "v1:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

// writePart writes b prefixed with its length, so that no choice of one
// part can pass for another.
func writePart(h hash.Hash, b []byte) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	h.Write(b)
}

// jsonFingerprint is the fingerprint of a request sent as the JSON of v.
func (c *Client) jsonFingerprint(op string, v any) (string, error) {
	body, err := marshalBody(v)
	if err != nil {
		return "", err
	}
	return c.fingerprint(op, func(h hash.Hash) error { writePart(h, body); return nil })
}

// newToken returns a random token naming one call as a key's holder.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// keyedRequest is one request of a call with its key and fingerprint.
type keyedRequest struct {
	key, fingerprint string
	field            string // the key's field in a validation error: "idempotency_key", "[2].idempotency_key"
}

// heldKey is what a call knows of one of its keys. Only the call's
// goroutine touches it; the renewal reads key and fingerprint only.
type heldKey struct {
	keyedRequest
	held    bool      // this call holds the key's lease
	inDoubt bool      // a request under the key may have reached the API
	sentAt  time.Time // the earliest such request, by the API's clock (KeyRecord.SentAt)
	done    bool      // an outcome is recorded
	result  []byte    // the outcome, when done
	// confirmed is when the claim that last confirmed the lease was asked
	// for: the lease lasts at least until confirmed + lease. Set by
	// acquire, then by the renewal alone.
	confirmed time.Time
}

// keySet is the keys of one call, held with one token. acquire takes them,
// renew keeps them, finish releases those left without an outcome.
type keySet struct {
	c     *Client
	cfg   *callConfig
	op    string // "POST /task", in errors
	token string
	keys  []*heldKey // in the order of the call's requests
	// base is the call's context without its cancellation, for the store
	// calls that must run once the call ends.
	base        context.Context
	stopRenewal func() // ends the renewal and waits for it; nil when none runs
	// lost is closed when the lease of a held key may have run out (no
	// renewal confirmed it in time): the call's send is cut (fenced).
	lost chan struct{}
}

func newKeySet(ctx context.Context, c *Client, cfg *callConfig, op string, reqs []keyedRequest) *keySet {
	s := &keySet{c: c, cfg: cfg, op: op, token: newToken(), base: context.WithoutCancel(ctx)}
	for _, r := range reqs {
		s.keys = append(s.keys, &heldKey{keyedRequest: r})
	}
	return s
}

// acquire takes every key: its recorded outcome when done, else its lease,
// waiting for another caller that holds it. Keys are taken in the order of
// their text, so that calls whose batches share keys never wait for each
// other in a circle.
func (s *keySet) acquire(ctx context.Context) error {
	order := slices.Clone(s.keys)
	slices.SortFunc(order, func(a, b *heldKey) int { return strings.Compare(a.key, b.key) })
	for _, h := range order {
		if err := s.acquireKey(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// acquireKey takes one key. A record made for another request (another
// fingerprint) is refused before anything is sent, and a lease taken over
// on such a record is given back as it was.
func (s *keySet) acquireKey(ctx context.Context, h *heldKey) error {
	store := s.c.keys
	for {
		asked := time.Now()
		rec, ok, err := store.Claim(ctx, h.key, s.token, h.fingerprint, s.c.keyLease)
		if err != nil {
			return s.storeFailed("claiming the key", err)
		}
		if !sameRequest(&rec, h) {
			if ok {
				ctx, cancel := s.cleanupContext()
				_ = store.Release(ctx, h.key, s.token, rec.InDoubt)
				cancel()
			}
			return s.keyReused(h)
		}
		switch {
		case ok:
			h.held, h.inDoubt, h.sentAt, h.confirmed = true, rec.InDoubt, rec.SentAt, asked
			return nil
		case rec.Done:
			h.done, h.result = true, rec.Result
			return nil
		}
		if err := s.awaitHolder(ctx, h); err != nil || h.done {
			return err
		}
	}
}

// sameRequest reports whether a record was made for h's request. A record
// without a fingerprint (an outcome recorded after the claim expired) is
// taken as h's.
func sameRequest(rec *KeyRecord, h *heldKey) bool {
	return rec.Fingerprint == "" || rec.Fingerprint == h.fingerprint
}

// awaitHolder waits while another caller holds the key, looking at its
// record with backoff: it returns with h done when an outcome is recorded,
// or when the key looks free (released, or its lease ran out by the
// store's time), for the caller to claim it again: the store decides.
func (s *keySet) awaitHolder(ctx context.Context, h *heldKey) error {
	pace := defaultKeyPoll
	if s.cfg.poll.Min > 0 {
		pace = s.cfg.poll
	}
	for n := 0; ; n++ {
		if err := s.c.sleep(ctx, pace.Delay(n)); err != nil {
			return fmt.Errorf("kryptogo: %s: nothing was sent: another call holds the idempotency key and has not finished: %w", s.op, err)
		}
		rec, found, err := s.c.keys.Get(ctx, h.key)
		if err != nil {
			return s.storeFailed("reading the key", err)
		}
		switch {
		case found && rec.Done && !sameRequest(&rec, h):
			return s.keyReused(h)
		case found && rec.Done:
			h.done, h.result = true, rec.Result
			return nil
		case !found || rec.Holder == "" || !time.Now().Before(rec.LeaseUntil):
			return nil
		}
	}
}

// markSent marks the keys in doubt right before their request is sent. A
// key another caller took over, or a store failure, stops the send: the
// keys stay as they were (in doubt or not), since nothing more was sent.
func (s *keySet) markSent(ctx context.Context, keys []*heldKey) error {
	now := s.c.apiNow()
	for _, h := range keys {
		err := s.c.keys.MarkInDoubt(ctx, h.key, s.token, now)
		if err == nil {
			continue
		}
		if errors.Is(err, ErrNotHolder) {
			h.held = false
			return fmt.Errorf("kryptogo: %s: nothing was sent: another caller took over the idempotency key (this call's lease ran out); call again", s.op)
		}
		return s.storeFailed("marking the key in doubt", err)
	}
	for _, h := range keys {
		if !h.inDoubt || now.Before(h.sentAt) {
			h.sentAt = now
		}
		h.inDoubt = true
	}
	return nil
}

// remark moves the send time of the keys in doubt earlier, to at (by the
// API's clock), when the client learned after the send that the API's clock
// runs further behind than it knew at markSent: a key marked before the
// client heard any Date holds a time by the client's clock until then. The
// store keeps the earliest time. A failure is logged, and the key keeps
// the time it had; keys with an outcome are left alone. It returns the
// first failure.
func (s *keySet) remark(ctx context.Context, keys []*heldKey, at time.Time) error {
	var first error
	for _, h := range keys {
		if !h.held || h.done || !h.inDoubt || !at.Before(h.sentAt) {
			continue
		}
		cctx, cancel := s.cleanupContext()
		err := s.c.keys.MarkInDoubt(cctx, h.key, s.token, at)
		cancel()
		if err != nil {
			s.warn(ctx, "kryptogo: moving a key's send time earlier, to the API's clock, failed; a lookup in another process may miss its task", s.errorAttr(err))
			first = cmp.Or(first, err)
			continue
		}
		h.sentAt = at
	}
	return first
}

// complete records result as the key's outcome and returns the outcome
// recorded, which is another's when another caller recorded one first.
func (s *keySet) complete(ctx context.Context, h *heldKey, result []byte) ([]byte, error) {
	rec, err := s.c.keys.Complete(ctx, h.key, s.token, result)
	if err != nil {
		return nil, err
	}
	h.done, h.result = true, rec.Result
	return rec.Result, nil
}

// finish ends the call's hold: the renewal stops first (a renewal after a
// release would claim the key again), then every key held without an
// outcome is released, in doubt or not. It runs when the caller's ctx has
// ended too.
func (s *keySet) finish() {
	if s.stopRenewal != nil {
		s.stopRenewal()
	}
	ctx, cancel := s.cleanupContext()
	defer cancel()
	for _, h := range s.keys {
		if !h.held || h.done {
			continue
		}
		if err := s.c.keys.Release(ctx, h.key, s.token, h.inDoubt); err != nil {
			s.warn(ctx, "kryptogo: releasing an idempotency key failed; another caller can take it once its lease runs out",
				slog.Bool("in_doubt", h.inDoubt), s.errorAttr(err))
		}
	}
}

// cleanupContext is a context for the store calls that end the call's
// hold, bounded on its own since the caller's ctx may have ended.
func (s *keySet) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, keyCleanupTimeout)
}

// warn logs msg at WARN with the call's logger, or slog's default one: a
// store that fails after a send is the user's to know.
func (s *keySet) warn(ctx context.Context, msg string, attrs ...slog.Attr) {
	logger := s.cfg.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, slog.LevelWarn, msg, append(attrs, slog.String("operation", s.op))...)
}

// storeFailed is the error of a store call that failed before the send:
// nothing is sent (fail closed).
func (s *keySet) storeFailed(step string, err error) error {
	return s.masked(fmt.Sprintf("kryptogo: %s: the idempotency store failed %s, so nothing was sent: ", s.op, step), err)
}

// masked returns a store's err, its text prefixed, masked of the call's
// keys (a Redis or SQL driver quotes the command it ran): storeError.
func (s *keySet) masked(prefix string, err error) error { return s.scrubber().wrapStore(prefix, err) }

// errorAttr is a store's err for a log record, masked of the call's keys.
func (s *keySet) errorAttr(err error) slog.Attr {
	return slog.String("error", s.scrubber().text(err.Error()))
}

func (s *keySet) scrubber() scrubber {
	keys := make([]string, len(s.keys))
	for i, h := range s.keys {
		keys[i] = h.key
	}
	return s.c.scrubber(keys)
}

// keyReused is the error of a key that was used for another request.
func (s *keySet) keyReused(h *heldKey) error {
	return invalid(h.field, "was used for another request within the store's retention (another body or endpoint, or a client of another API key); use a new key for a new request")
}

// keyInDoubtError is the error of a KYA or IDV create whose key is in
// doubt: an earlier request under it may have created the resource, and
// the API cannot be searched for it, so nothing is sent. resolve says how
// the user can find out.
func keyInDoubtError(op, resolve string) error {
	return fmt.Errorf("kryptogo: %s: nothing was sent: an earlier request with this idempotency key may have reached the API "+
		"(it got no answer, or its caller stopped), and the API cannot be searched for it; %s, then call Forget(key) on the "+
		"client's IdempotencyStore to send it again: %w", op, resolve, ErrMaybeSent)
}

// The ways to resolve a key in doubt, per resource.
const (
	resolveKYA = "check the addresses screened in the KryptoGO console"
	resolveIDV = "look for the IDV task (IDV.Get by an idv_task_id you may hold, or the KryptoGO console)"
)

// stillInDoubt adds to the error of a keyed send in doubt what a retry with
// the key does.
func stillInDoubt(err error, resolve string) error {
	return fmt.Errorf("%w; a call with the same idempotency key sends nothing until you resolve it: %s, then call Forget(key) on the client's IdempotencyStore", err, resolve)
}

// createKeyed sends one create (KYA, IDV) under its idempotency key: the
// recorded result when the key is done, ErrMaybeSent without a request
// when it is in doubt, else send's result, recorded under the key.
func createKeyed[T any](ctx context.Context, c *Client, cfg *callConfig, op, resolve string, req keyedRequest, send func(context.Context) (*T, error)) (*T, error) {
	keys := newKeySet(ctx, c, cfg, op, []keyedRequest{req})
	defer keys.finish()
	if err := keys.acquire(ctx); err != nil {
		return nil, err
	}
	h := keys.keys[0]
	switch {
	case h.done:
		return decodeRecorded[T](op, h.result)
	case h.inDoubt:
		return nil, keyInDoubtError(op, resolve)
	}
	keys.renew()
	if err := keys.markSent(ctx, keys.keys); err != nil {
		return nil, err
	}
	sendCtx, stop := keys.fenced(ctx)
	res, err := send(sendCtx)
	stop()
	switch {
	case errors.Is(err, ErrMaybeSent):
		return nil, stillInDoubt(err, resolve)
	case err != nil:
		h.inDoubt = false // the request provably did not create anything
		return nil, err
	}
	return recordResult(ctx, keys, h, res)
}

// recordResult records res as the key's outcome and returns the outcome
// recorded: res, or what another caller recorded first. When the store
// fails, res is returned all the same (it exists) and the failure logged:
// the key is then released in doubt.
func recordResult[T any](ctx context.Context, keys *keySet, h *heldKey, res *T) (*T, error) {
	raw, err := encodeResult(res)
	if err != nil {
		return nil, err
	}
	recorded, err := keys.complete(ctx, h, raw)
	switch {
	case err != nil:
		keys.warn(ctx, "kryptogo: the request succeeded but recording its result under the idempotency key failed; a call with the key will find it in doubt",
			keys.errorAttr(err))
		return res, nil
	case bytes.Equal(recorded, raw):
		return res, nil
	}
	return decodeRecorded[T](keys.op, recorded)
}

// encodeResult is what the store keeps of a result: the JSON the API
// answered, so a call answered from the store returns it (RawJSON
// included), or the result's JSON when it was built in code.
func encodeResult(res any) ([]byte, error) {
	if r, ok := res.(interface{ RawJSON() json.RawMessage }); ok && len(r.RawJSON()) > 0 {
		return r.RawJSON(), nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: encode the result for the idempotency store: %w", err)
	}
	return b, nil
}

// decodeRecorded decodes a result recorded under a key as the API's answer
// would be decoded, its JSON kept for RawJSON. A record that does not
// decode is an error that says so, without its content.
func decodeRecorded[T any](op string, data []byte) (*T, error) {
	var out T
	target := any(&out)
	if m, ok := target.(plainDecoder); ok {
		target = m.decodeTarget()
	}
	if err := json.Unmarshal(data, target); err != nil {
		return nil, fmt.Errorf("kryptogo: %s: the idempotency store holds a result for the key that does not decode (%v); nothing was sent", op, valueFreeDecodeError(err))
	}
	if m, ok := any(&out).(rawKeeper); ok {
		m.setRaw(bytes.Clone(data))
	}
	return &out, nil
}

// withKeyMasked makes a keyed call mask its keys as it masks personal
// values: a key may hold an order id, which no error or log should carry.
func withKeyMasked(opts []Option, keys ...string) []Option {
	return append(opts[:len(opts):len(opts)], withPersonal(keys))
}

// IdempotencyCallbackURL adds the digest of idempotencyKey (IdempotencyParam)
// to a callback URL before you sign it; the SDK adds it to unsigned ones. A
// signed URL, or one with another key's digest, is refused.
func IdempotencyCallbackURL(callbackURL, idempotencyKey string) (string, error) {
	var v validator
	v.required("idempotency_key", idempotencyKey)
	validateIdempotencyKey(&v, idempotencyKey)
	if err := v.err(); err != nil {
		return "", err
	}
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("kryptogo: IdempotencyCallbackURL: the callback URL is not an absolute http(s) URL")
	}
	query, err := parseCallbackQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("kryptogo: IdempotencyCallbackURL: %w", err)
	}
	switch digest := keyDigest(idempotencyKey); {
	case query.Has(SignatureParam):
		return "", fmt.Errorf("kryptogo: IdempotencyCallbackURL: the URL is signed (%s); add the key before signing", SignatureParam)
	case len(query[IdempotencyParam]) > 1 || query.Has(IdempotencyParam) && query.Get(IdempotencyParam) != digest:
		return "", fmt.Errorf("kryptogo: IdempotencyCallbackURL: the URL carries the %s of another key", IdempotencyParam)
	case query.Has(IdempotencyParam):
		return callbackURL, nil
	default:
		u.RawQuery = appendParam(u.RawQuery, IdempotencyParam, digest)
		return u.String(), nil
	}
}

// checkIdempotencyParam records a callback URL whose kg_idem does not
// belong to the request's key: several, or the digest of another key.
// Without a key, a kg_idem is the caller's to set.
func checkIdempotencyParam(v *validator, field, callbackURL, key string) {
	if key == "" || callbackURL == "" {
		return
	}
	u, err := url.Parse(callbackURL)
	if err != nil {
		return // the URL rules report it
	}
	query, err := parseCallbackQuery(u.RawQuery)
	if err != nil {
		return // checkCallbackReference reports it
	}
	switch digests := query[IdempotencyParam]; {
	case len(digests) > 1:
		v.addf(field, "has %d %s parameters; it may carry one, the digest of idempotency_key", len(digests), IdempotencyParam)
	case len(digests) == 1 && digests[0] != keyDigest(key):
		v.addf(field, "carries the %s of another idempotency key than idempotency_key: a lookup of this task would not find it", IdempotencyParam)
	}
}

// exactCallbackURL returns the callback URL a task with an idempotency key
// is sent with, and whether its lookup is exact: an unsigned URL gets the
// key's digest (kg_idem); a URL that carries it already is kept; a signed
// URL without it is kept as signed, and the lookup matches by target.
func exactCallbackURL(callbackURL, key string) (string, bool) {
	if key == "" || callbackURL == "" {
		return callbackURL, false
	}
	u, err := url.Parse(callbackURL)
	if err != nil {
		return callbackURL, false
	}
	query, err := parseCallbackQuery(u.RawQuery)
	switch {
	case err != nil:
		return callbackURL, false
	case query.Has(IdempotencyParam):
		return callbackURL, true // validated: the key's own digest
	case query.Has(SignatureParam):
		return callbackURL, false
	}
	u.RawQuery = appendParam(u.RawQuery, IdempotencyParam, keyDigest(key))
	return u.String(), true
}
