package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// CreateOnce creates DD search tasks as Create does, but never twice.
//
// With IdempotencyKey set on every request, it creates each at most once
// per key, across calls, clients and processes that share the client's
// IdempotencyStore (see the field): a key done answers from the store, and
// a task whose send was in doubt, in this call or an earlier one, is looked
// up in its customer's history before anything is sent again.
//
// Without keys, it is once per call: when a send fails in doubt (an error
// matching ErrMaybeSent), it looks each task up in its customer's history
// and sends again only those the API did not create, at most three sends
// in all; the CreateOnce calls of one client never report one task twice,
// and processes share nothing.
//
// It returns one receipt per request, in the order of reqs; a receipt found
// in the history carries the task's creation time. A send that succeeds
// costs one POST. Every request needs a CustomerReference and must not set
// FromIDVID (else a *ValidationError, nothing sent). The lookup (FindCreated
// describes how a task is matched) looks five times over WithReconcileWait
// (10 s by default), reads every page of the history, at most 25 of 20
// tasks, and takes an answer it cannot read with certainty (no data array,
// a task without creation time or target, a page that repeats, a history
// too long) as unknown: then nothing is sent again and the error matches
// ErrMaybeSent. The README's "Creating exactly once" says what remains
// possible.
//
// On an error, the receipts hold the tasks known to exist (TaskID 0 for the
// others), or are nil when none is; an error that leaves tasks in doubt
// matches ErrMaybeSent. opts apply to every request of the call.
//
// API: POST /task; after a send in doubt, GET /tasks?customer_reference=…
// (and GET /task/{task_id} when a request's key is in its callback URL)
func (s *TaskService) CreateOnce(ctx context.Context, reqs []CreateTaskRequest, opts ...Option) ([]CreatedTask, error) {
	tasks, err := validateTaskBatch(reqs, true)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksOnce, opts, err)
	}
	return s.createChecked(ctx, &opTasksOnce, tasks, true, opts)
}

// createChecked runs the create of validated tasks: with their keys when
// they have some (every one does then), else CreateOnce's lookup (once) or
// Create's single send.
func (s *TaskService) createChecked(ctx context.Context, op *Operation, tasks []CreateTaskRequest, once bool, opts []Option) ([]CreatedTask, error) {
	keyed := tasks[0].IdempotencyKey != ""
	if !keyed && !once {
		return s.create(ctx, op, tasks, opts)
	}
	cfg, err := s.client.config(opts)
	if err != nil {
		return nil, s.client.refuse(ctx, op, nil, err)
	}
	o := &createOnce{tasks: s, op: op, cfg: cfg, reqs: tasks, resolve: once,
		out: make([]CreatedTask, len(tasks)), claimed: map[ID]bool{}, exact: make([]bool, len(tasks))}
	var keys []string
	if keyed {
		for i := range o.reqs {
			keys = append(keys, o.reqs[i].IdempotencyKey)
			o.reqs[i].CallbackURL, o.exact[i] = exactCallbackURL(o.reqs[i].CallbackURL, o.reqs[i].IdempotencyKey)
		}
		opts = withKeyMasked(opts, keys...)
	}
	o.opts = opts
	// The lookups' errors are this call's: masked of what its POST sent.
	o.lookup = historyLookup{tasks: s, opts: append(opts[:len(opts):len(opts)], withPersonal(taskBatch(tasks).personalValues()))}
	if !keyed {
		return o.run(ctx)
	}
	if o.keys, err = o.keyRequests(ctx); err != nil {
		return nil, err
	}
	return o.runKeyed(ctx)
}

// How CreateOnce looks a send in doubt up (its doc states these figures).
const (
	// createOnceSkew is how long before the send, by the local clock, a
	// task may have been created and still be the send's: the API's clock
	// may run behind ours. Its timestamps have whole seconds only.
	createOnceSkew = 2 * time.Minute
	// maxCreateOnceSends bounds the POSTs of one call: a network that
	// breaks every send must not spend points without end.
	maxCreateOnceSends = 3
	// maxLookupPages bounds the history pages read per customer and
	// lookup; a longer history leaves the lookup inconclusive.
	maxLookupPages = 25
	// maxExactReads bounds the tasks an exact lookup reads one by one
	// (GET /task/{task_id}) per call: more candidates in the window leave
	// it inconclusive.
	maxExactReads = 50
)

// reconcileWaits are the pauses between the looks of a lookup: a tenth,
// two, three and four tenths of total, so the last look comes total after
// the first. The history may list a new task late.
func reconcileWaits(total time.Duration) []time.Duration {
	if total <= 0 {
		return nil
	}
	return []time.Duration{total / 10, total * 2 / 10, total * 3 / 10, total - total/10 - total*2/10 - total*3/10}
}

// validateTaskBatch returns the tasks to send, with their defaults, or
// every rule they break: the API's, the rules of keys (every task of a
// batch has its own or none has one), and those of the lookup, which
// CreateOnce and a keyed batch need (a CustomerReference, no FromIDVID).
func validateTaskBatch(reqs []CreateTaskRequest, once bool) ([]CreateTaskRequest, error) {
	var rules validator
	keyed := checkBatchKeys(&rules, reqs)
	if once || keyed {
		for i := range reqs {
			rules.nested("["+strconv.Itoa(i)+"].", func() { lookupRules(&rules, &reqs[i]) })
		}
	}
	tasks, err := validateCreateTasks(reqs)
	return tasks, withRules(err, &rules)
}

// validateOneTask is validateTaskBatch for CreateOne: field names without
// an index.
func validateOneTask(req *CreateTaskRequest) (*CreateTaskRequest, error) {
	var rules validator
	if req != nil && req.IdempotencyKey != "" {
		lookupRules(&rules, req)
	}
	valid, err := prepare(req)
	return valid, withRules(err, &rules)
}

// withRules adds the rules broken in rules to err, the result of the API's
// rules: one *ValidationError listing them all.
func withRules(err error, rules *validator) error {
	if verr, ok := err.(*ValidationError); ok {
		rules.fields = append(verr.Fields, rules.fields...)
	} else if err != nil {
		return err
	}
	return rules.err()
}

// checkBatchKeys records the rules of keys in a batch, and reports whether
// it has keys: every task has its own, or none has one.
func checkBatchKeys(v *validator, reqs []CreateTaskRequest) bool {
	first := map[string]int{}
	keyed := slices.ContainsFunc(reqs, func(r CreateTaskRequest) bool { return r.IdempotencyKey != "" })
	for i, r := range reqs {
		field := "[" + strconv.Itoa(i) + "].idempotency_key"
		switch j, seen := first[r.IdempotencyKey]; {
		case !keyed:
		case r.IdempotencyKey == "":
			v.add(field, "is required: in a batch, every task has its own idempotency key, or none has one")
		case seen:
			v.addf(field, "repeats the key of [%d]; every task of a batch needs its own", j)
		default:
			first[r.IdempotencyKey] = i
		}
	}
	return keyed
}

// lookupRules records what a task looked up in the history needs: its
// customer, and no FromIDVID.
func lookupRules(v *validator, r *CreateTaskRequest) {
	if strings.TrimSpace(r.CustomerReference) == "" {
		v.add("customer_reference", "is required: a create in doubt is looked up in the customer's history")
	}
	if r.FromIDVID != 0 {
		v.add("from_idv_id", "cannot be looked up: the API gives the task the IDV task's customer reference, so the lookup by this request's reference could miss it and pay twice; use Create without an idempotency key")
	}
}

// createOnce is one create of tasks that looks a send in doubt up:
// CreateOnce, and Create or CreateOne with keys.
type createOnce struct {
	tasks   *TaskService
	op      *Operation          // the method called, for an Observer
	opts    []Option            // the call's options, given to each request
	lookup  historyLookup       // the call's reads of the history
	cfg     *callConfig         // the call's configuration
	reqs    []CreateTaskRequest // validated, with their defaults (and kg_idem)
	exact   []bool              // per request: its lookup finds it by kg_idem
	out     []CreatedTask       // receipts in input order; TaskID 0 while unknown
	claimed map[ID]bool         // tasks of the history already matched to a request
	resolve bool                // look its own sends in doubt up (CreateOnce)
	keys    *keySet             // its idempotency keys; nil without
}

// keyRequests returns the call's keys with the fingerprint of each
// request: the request as given, without its key, kg_idem or kg_sig (a URL
// signed again after a secret rotation is the same request).
func (o *createOnce) keyRequests(ctx context.Context) (*keySet, error) {
	const op = "POST /task"
	reqs := make([]keyedRequest, len(o.reqs))
	for i, r := range o.reqs {
		r.CallbackURL = withoutParams(r.CallbackURL, IdempotencyParam, SignatureParam)
		fingerprint, err := o.tasks.client.jsonFingerprint(op, r)
		if err != nil {
			return nil, err
		}
		reqs[i] = keyedRequest{key: r.IdempotencyKey, fingerprint: fingerprint, field: "[" + strconv.Itoa(i) + "].idempotency_key"}
	}
	return newKeySet(ctx, o.tasks.client, o.cfg, op, reqs), nil
}

// run is CreateOnce without keys: send, and look up what a send in doubt
// left unknown.
func (o *createOnce) run(ctx context.Context) ([]CreatedTask, error) {
	// While the call runs, the claims its lookups could meet are kept.
	o.tasks.claims.enter(o, o.tasks.client.now())
	defer o.tasks.claims.leave(o)
	pending := make([]int, len(o.reqs))
	for i := range pending {
		pending[i] = i
	}
	if err := o.sendAll(ctx, pending); err != nil {
		return o.known(), err
	}
	return o.out, nil
}

// runKeyed is a create with keys: take the keys, answer those done from
// the store, look up those in doubt, and send the rest in one POST.
func (o *createOnce) runKeyed(ctx context.Context) ([]CreatedTask, error) {
	o.tasks.claims.enter(o, o.tasks.client.now())
	defer o.tasks.claims.leave(o)
	defer o.keys.finish()
	if err := o.keys.acquire(ctx); err != nil {
		return o.known(), err
	}
	o.keys.renew()
	var fresh, doubtful []int
	for i, h := range o.keys.keys {
		switch {
		case h.done:
			if err := o.answerRecorded(i, h.result); err != nil {
				return o.known(), err
			}
		case h.inDoubt:
			doubtful = append(doubtful, i)
		default:
			fresh = append(fresh, i)
		}
	}
	var unresolved error
	if len(doubtful) > 0 {
		absent, err := o.resolveEarlier(ctx, doubtful)
		if err != nil {
			unresolved = err
		}
		fresh = append(fresh, absent...)
		sort.Ints(fresh)
	}
	if len(fresh) > 0 {
		if err := o.sendAll(ctx, fresh); err != nil {
			return o.known(), bothErrors(err, unresolved)
		}
	}
	if unresolved != nil {
		return o.known(), unresolved
	}
	return o.out, nil
}

// bothErrors returns err, and also other when there is one: errors.Is and
// errors.As match either, and the text reads on one line.
func bothErrors(err, other error) error {
	if other == nil {
		return err
	}
	return fmt.Errorf("%w; and %w", err, other)
}

// resolveEarlier looks up the tasks whose keys an earlier call left in
// doubt, and returns those the API provably did not create, to be sent.
// A key without a send time, or a lookup that cannot tell, stays in doubt:
// nothing is sent for it.
func (o *createOnce) resolveEarlier(ctx context.Context, doubtful []int) ([]int, error) {
	var since time.Time
	for _, i := range doubtful {
		sent := o.keys.keys[i].sentAt
		if sent.IsZero() {
			return nil, o.earlierInDoubt(errors.New("the key's record has no send time"))
		}
		if since.IsZero() || sent.Before(since) {
			since = sent
		}
	}
	absent, err := o.reconcile(ctx, doubtful, since)
	if err != nil {
		return nil, o.earlierInDoubt(err)
	}
	for _, i := range absent {
		o.keys.keys[i].inDoubt = false
	}
	return absent, nil
}

// earlierInDoubt is the error of keys an earlier call left in doubt and
// this one could not resolve: nothing was sent for them.
func (o *createOnce) earlierInDoubt(cause error) error {
	return fmt.Errorf("kryptogo: POST /task: nothing was sent for the tasks whose idempotency keys an earlier call left in doubt: "+
		"the customer's history could not tell whether the API created them (%w); call again later (the lookup runs again), "+
		"or check with Tasks.FindCreated and call Forget(key) on the client's IdempotencyStore to send again: %w", cause, ErrMaybeSent)
}

// sendAll sends the pending requests in one POST. A send in doubt leaves
// Create's keys in doubt; CreateOnce looks it up and sends again only what
// the API did not create, at most maxCreateOnceSends times in all.
func (o *createOnce) sendAll(ctx context.Context, pending []int) error {
	for send := 1; ; send++ {
		if err := o.markSent(ctx, pending); err != nil {
			return err
		}
		sentAt := o.tasks.client.now()
		receipts, err := o.send(ctx, pending)
		if err == nil {
			return o.answerSent(ctx, pending, receipts)
		}
		if !errors.Is(err, ErrMaybeSent) {
			o.notSent(pending)
			return err // nothing of this send was created
		}
		if !o.resolve {
			return fmt.Errorf("%w; a call with the same idempotency keys looks the tasks up in the customer's history before sending anything again", err)
		}
		left, lookupErr := o.reconcile(ctx, pending, sentAt)
		switch {
		case lookupErr != nil:
			return fmt.Errorf("kryptogo: CreateOnce: a send is in doubt and looking it up in the history failed (%w); the send: %w", lookupErr, err)
		case len(left) == 0:
			return nil
		case send == maxCreateOnceSends:
			return err
		}
		o.cfg.log(ctx, "kryptogo: CreateOnce: sending again the tasks the API did not create",
			slog.Int("found", len(pending)-len(left)), slog.Int("again", len(left)))
		pending = left
	}
}

// markSent marks the keys of the pending requests in doubt, right before
// their send.
func (o *createOnce) markSent(ctx context.Context, pending []int) error {
	if o.keys == nil {
		return nil
	}
	return o.keys.markSent(ctx, o.heldKeys(pending))
}

// notSent records that the pending requests provably created nothing.
func (o *createOnce) notSent(pending []int) {
	for _, h := range o.heldKeys(pending) {
		h.inDoubt = false
	}
}

func (o *createOnce) heldKeys(idx []int) []*heldKey {
	if o.keys == nil {
		return nil
	}
	out := make([]*heldKey, len(idx))
	for k, i := range idx {
		out[k] = o.keys.keys[i]
	}
	return out
}

// send posts the pending requests. The send is marked in flight in the
// client's registry until it resolved, and the receipts of its answer are
// claimed for this call before the mark ends: a lookup of another call that
// read the history meanwhile waits for that, so it never takes one of them.
// The receipts of a short answer (fewer than the tasks sent, an error) are
// claimed too: they are tasks this call's POST created, which only its own
// lookup may match to its requests.
func (o *createOnce) send(ctx context.Context, pending []int) (receipts []CreatedTask, err error) {
	refs := make([]string, 0, len(pending))
	for _, i := range pending {
		refs = append(refs, o.reqs[i].CustomerReference)
	}
	inFlight := o.tasks.claims.begin(refs)
	defer func() {
		ids := make([]ID, 0, len(receipts))
		for _, r := range receipts {
			if r.TaskID != 0 {
				ids = append(ids, r.TaskID)
			}
		}
		o.tasks.claims.finish(inFlight, o, ids, o.tasks.client.now())
	}()
	return o.tasks.create(ctx, o.op, o.subset(pending), o.opts)
}

func (o *createOnce) subset(idx []int) []CreateTaskRequest {
	reqs := make([]CreateTaskRequest, len(idx))
	for k, i := range idx {
		reqs[k] = o.reqs[i]
	}
	return reqs
}

// answerSent records the receipts of a send that succeeded.
func (o *createOnce) answerSent(ctx context.Context, pending []int, receipts []CreatedTask) error {
	for k, i := range pending {
		o.out[i] = receipts[k]
		if o.keys == nil {
			continue
		}
		raw, err := encodeResult(&receipts[k])
		if err != nil {
			return err
		}
		o.recordTask(ctx, i, receipts[k].TaskID, raw)
	}
	return nil
}

// answerFound records a task the lookup found as request i's.
func (o *createOnce) answerFound(ctx context.Context, i int, t *TaskSummary) {
	o.out[i] = CreatedTask{TaskID: t.TaskID, Timestamp: t.CreationTime}
	if o.keys == nil {
		return
	}
	raw, err := json.Marshal(&o.out[i])
	if err == nil {
		o.recordTask(ctx, i, t.TaskID, raw)
	}
}

// recordTask records task id, whose receipt is raw, as the outcome of
// request i's key and the key as the task's owner, and answers what the
// store recorded, as any later call with the key will (another call's
// outcome, when one was recorded first). When the store fails, the task
// is answered all the same (it exists) and the failure logged.
func (o *createOnce) recordTask(ctx context.Context, i int, id ID, raw []byte) {
	h := o.keys.keys[i]
	recorded, err := o.keys.complete(ctx, h, raw)
	if err != nil {
		o.keys.warn(ctx, "kryptogo: a task was created but recording it under its idempotency key failed; a call with the key will look it up in the history",
			slog.String("error", err.Error()))
		return
	}
	if o.answerRecorded(i, recorded) != nil || !bytes.Equal(recorded, raw) {
		return
	}
	if mine, err := o.own(ctx, i, id); err == nil && !mine {
		o.keys.warn(ctx, "kryptogo: a task this call created was taken by the lookup of another idempotency key (same customer and target, no key in the callback URL)",
			slog.String("task_id", id.String()))
	}
}

// answerRecorded answers request i with the receipt its key recorded.
func (o *createOnce) answerRecorded(i int, recorded []byte) error {
	receipt, err := decodeRecorded[CreatedTask]("POST /task", recorded)
	if err != nil {
		return err
	}
	o.out[i] = *receipt
	return nil
}

// taskOwnerKey names a task's owner record in the IdempotencyStore: the
// digest of the key whose task it is. A tab cannot be in a user's key, so
// the name is never one.
func taskOwnerKey(id ID) string { return "kryptogo\ttask-owner\t" + id.String() }

// own records request i's key as the owner of task id, unless another key
// is recorded first, and reports whether the task is i's: a lookup of
// another key, in any process sharing the store, then leaves it alone.
func (o *createOnce) own(ctx context.Context, i int, id ID) (bool, error) {
	digest := []byte(keyDigest(o.reqs[i].IdempotencyKey))
	rec, err := o.tasks.client.keys.Complete(ctx, taskOwnerKey(id), o.keys.token, digest)
	if err != nil {
		return false, err
	}
	return bytes.Equal(rec.Result, digest), nil
}

// found counts the requests of idx whose task is known.
func (o *createOnce) found(idx []int) int {
	n := 0
	for _, i := range idx {
		if o.out[i].TaskID != 0 {
			n++
		}
	}
	return n
}

// known returns the receipts when at least one task is known to exist.
func (o *createOnce) known() []CreatedTask {
	for _, c := range o.out {
		if c.TaskID != 0 {
			return o.out
		}
	}
	return nil
}

// reconcile finds the pending requests, sent at sentAt or later, in their
// customers' history, asking again after each of reconcileWaits while some
// are missing; it records the tasks found and returns the requests never
// found, which the API did not create. Every reconciliation runs here.
func (o *createOnce) reconcile(ctx context.Context, pending []int, sentAt time.Time) (left []int, err error) {
	start := time.Now()
	defer func() { o.cfg.observeReconcile(ctx, o.op, len(pending), o.found(pending), err, start) }()
	since := sentAt.Add(-createOnceSkew)
	waits := reconcileWaits(o.cfg.reconcileWait)
	for attempt := 0; ; attempt++ {
		left, err := o.match(ctx, pending, since)
		if err != nil || len(left) == 0 || attempt == len(waits) {
			return left, err
		}
		if err := o.tasks.client.sleep(ctx, waits[attempt]); err != nil {
			return left, err
		}
		pending = left
	}
}

// match looks the pending requests up in their customers' recent history,
// records the tasks found, and returns the requests not found, in order.
func (o *createOnce) match(ctx context.Context, pending []int, since time.Time) ([]int, error) {
	var left []int
	for _, group := range byCustomer(o.reqs, pending) {
		ref := o.reqs[group[0]].CustomerReference
		recent, err := o.lookup.recentTasks(ctx, ref, since)
		if err != nil {
			return nil, err
		}
		// A task read may be the receipt of another call's send for this
		// customer, in flight while the history was read: its sender claims
		// it once its answer comes, so the claims wait for that.
		if err := o.tasks.claims.awaitSends(ctx, ref); err != nil {
			return nil, err
		}
		for _, i := range group {
			t, err := o.claim(ctx, recent, i)
			if err != nil {
				return nil, err
			}
			if t != nil {
				o.answerFound(ctx, i, t)
			} else {
				left = append(left, i)
			}
		}
	}
	sort.Ints(left)
	return left, nil
}

// byCustomer groups request indexes by customer reference, keeping their
// order within each group.
func byCustomer(reqs []CreateTaskRequest, idx []int) [][]int {
	group := map[string]int{}
	var groups [][]int
	for _, i := range idx {
		ref := reqs[i].CustomerReference
		g, ok := group[ref]
		if !ok {
			g = len(groups)
			group[ref] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// claim returns the task of recent that is request i's, and marks it
// matched; nil when there is none. A request whose key is in its callback
// URL takes the oldest task carrying it; any other the oldest task not
// matched yet that searches its target, which no other CreateOnce call of
// the client holds and, with a key, no other key owns.
func (o *createOnce) claim(ctx context.Context, recent []TaskSummary, i int) (*TaskSummary, error) {
	req := &o.reqs[i]
	if o.exact[i] {
		found, err := o.lookup.carrying(ctx, recent, req, false)
		if err != nil || len(found) == 0 {
			return nil, err
		}
		o.claimed[found[0].TaskID] = true
		o.tasks.claims.take(found[0].TaskID, o, o.tasks.client.now())
		return &found[0], nil
	}
	for k := range recent {
		t := &recent[k]
		if o.claimed[t.TaskID] || !sameTarget(req, &t.Target) || !o.tasks.claims.take(t.TaskID, o, o.tasks.client.now()) {
			continue
		}
		if o.keys != nil {
			mine, err := o.own(ctx, i, t.TaskID)
			if err != nil {
				return nil, fmt.Errorf("the idempotency store failed recording the task's key: %w", err)
			}
			if !mine {
				continue
			}
		}
		o.claimed[t.TaskID] = true
		return t, nil
	}
	return nil, nil
}

// FindCreated looks in the history of req's customer for the tasks req
// created since since (give the time of the send in doubt, less a margin
// for the API's clock, which may run behind yours), oldest first: nil when
// there is none. It is the lookup CreateOnce and keyed creates make, for
// callers who keep their own state of a send in doubt. Look again a few
// seconds later before taking an empty answer as "not created": the
// history may list a new task late.
//
// A task is req's, when req has an IdempotencyKey and its CallbackURL
// carries the key's digest (kg_idem: the SDK adds it to an unsigned URL;
// IdempotencyCallbackURL to one you sign), when it carries that digest in
// the callback_url GET /task/{task_id} returns: exact. Otherwise when it
// searches req's target: the same type and name, compared by meaning
// (Unicode canonical equivalence, case, runs of white space), and birthday
// and citizenship where both give them; tasks of the same customer and
// target are then indistinguishable, whatever their search setting.
//
// An answer it cannot read with certainty is an error, never "none": a
// page without a data array, a task without a creation time or a target, a
// page that repeats the one before, a history longer than 25 pages of 20,
// more than 50 tasks to read one by one, or in exact mode a task of req's
// target whose callback URL has no kg_idem. req needs a CustomerReference
// and no FromIDVID (else a *ValidationError, nothing sent).
//
// API: GET /tasks?customer_reference=…, and GET /task/{task_id} in exact mode
func (s *TaskService) FindCreated(ctx context.Context, req CreateTaskRequest, since time.Time, opts ...Option) ([]TaskSummary, error) {
	valid, err := validateLookup(&req)
	if err != nil {
		return nil, err
	}
	if _, err := s.client.config(opts); err != nil {
		return nil, err
	}
	exact := false
	valid.CallbackURL, exact = exactCallbackURL(valid.CallbackURL, valid.IdempotencyKey)
	masked := append(opts[:len(opts):len(opts)], withPersonal(append(valid.personalValues(), valid.IdempotencyKey)))
	lookup := historyLookup{tasks: s, opts: masked}
	recent, err := lookup.recentTasks(ctx, valid.CustomerReference, since)
	if err != nil {
		return nil, err
	}
	if exact {
		return lookup.carrying(ctx, recent, valid, true)
	}
	var found []TaskSummary
	for _, t := range recent {
		if sameTarget(valid, &t.Target) {
			found = append(found, t)
		}
	}
	return found, nil
}

// validateLookup returns req with its defaults, or every rule it breaks,
// the lookup's included.
func validateLookup(req *CreateTaskRequest) (*CreateTaskRequest, error) {
	var rules validator
	lookupRules(&rules, req)
	valid, err := prepare(req)
	return valid, withRules(err, &rules)
}

// historyLookup reads the history for one call, and the tasks an exact
// lookup reads one by one, each once per call.
type historyLookup struct {
	tasks *TaskService
	opts  []Option               // masked of the call's personal values and keys
	read  map[ID]callbackDigests // the tasks read one by one
	reads int                    // how many were read
}

// recentTasks returns the customer's tasks created since since, oldest
// first. The API documents neither the order of the history nor that it
// honours page_size, so every page is read, up to an empty page. An answer
// that cannot be read with certainty is an error (errUnreadableHistory):
// a page without a data array, or repeating the previous page's first task
// (a server ignoring page_number), a task without creation time, or in the
// window without a target. A history longer than maxLookupPages pages is
// not read to its end (errHistoryTooLong).
func (l *historyLookup) recentTasks(ctx context.Context, ref string, since time.Time) ([]TaskSummary, error) {
	seen := map[ID]bool{}
	var recent []TaskSummary
	var first ID // the previous page's first task
	for page := 1; ; page++ {
		if page > maxLookupPages {
			return nil, errHistoryTooLong
		}
		res, err := l.tasks.History(ctx, &HistoryOptions{PageSize: defaultPageSize, PageNumber: page, CustomerReference: ref}, l.opts...)
		if err != nil {
			return nil, err
		}
		if err := readablePage(res, page, first); err != nil {
			return nil, err
		}
		if len(res.Data) == 0 {
			break
		}
		first = res.Data[0].TaskID
		for _, t := range res.Data {
			switch {
			case t.CreationTime.IsZero():
				return nil, unreadable("task %d of page %d has no creation_time", t.TaskID, page)
			case seen[t.TaskID] || t.CreationTime.Before(since):
				continue
			case t.Target.Type == 0 && t.Target.Name == "":
				return nil, unreadable("task %d of page %d has no target", t.TaskID, page)
			}
			seen[t.TaskID] = true
			// Trust the filter when the summary leaves the customer out.
			if t.CustomerReference == "" || t.CustomerReference == ref {
				recent = append(recent, t)
			}
		}
	}
	sort.SliceStable(recent, func(a, b int) bool {
		ta, tb := recent[a].CreationTime.Time, recent[b].CreationTime.Time
		return ta.Before(tb) || ta.Equal(tb) && recent[a].TaskID < recent[b].TaskID
	})
	return recent, nil
}

// readablePage returns an error for a page of history the lookup cannot
// read with certainty: no data array (`{}`, `{"data":null}`), or the first
// task of the page before again.
func readablePage(res *TaskPage, page int, previousFirst ID) error {
	var probe struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(res.RawJSON(), &probe); err != nil || !bytes.HasPrefix(probe.Data, []byte("[")) {
		return unreadable("page %d has no data array", page)
	}
	if len(res.Data) > 0 && previousFirst != 0 && res.Data[0].TaskID == previousFirst {
		return unreadable("page %d starts with the task that started page %d: the server ignores page_number", page, page-1)
	}
	return nil
}

// errUnreadableHistory matches a lookup that read an answer it cannot be
// sure of: the task in doubt may be where it could not read.
var errUnreadableHistory = errors.New("the history cannot be read with certainty")

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUnreadableHistory}, args...)...)
}

// errHistoryTooLong ends a lookup that could not read the whole history:
// the task in doubt may be on a page not read, so nothing is sent again.
var errHistoryTooLong = fmt.Errorf("the customer's history is longer than %d pages of %d tasks, too long to check", maxLookupPages, defaultPageSize)

// callbackDigests are the kg_idem values of a task's callback URL, as GET
// /task/{task_id} returns it; known is false when the answer has no
// callback_url or one that does not parse.
type callbackDigests struct {
	digests []string
	known   bool
}

// carrying returns the tasks of recent whose callback URL carries the
// digest of req's key, oldest first, reading each (GET /task/{task_id})
// once per call: all of them, or only the first. When none does and a
// task of req's target has a callback URL without a digest (or none the
// lookup can read), it cannot tell: an error.
func (l *historyLookup) carrying(ctx context.Context, recent []TaskSummary, req *CreateTaskRequest, all bool) ([]TaskSummary, error) {
	digest := keyDigest(req.IdempotencyKey)
	var found []TaskSummary
	var unsure *TaskSummary
	for k := range recent {
		t := &recent[k]
		got, err := l.digestsOf(ctx, t.TaskID)
		if err != nil {
			return nil, err
		}
		switch {
		case slices.Contains(got.digests, digest):
			if found = append(found, *t); !all {
				return found, nil
			}
		case !got.known || len(got.digests) == 0 && sameTarget(req, &t.Target):
			unsure = t
		}
	}
	if len(found) == 0 && unsure != nil {
		return nil, unreadable("task %d searches the request's target, and its callback URL carries no %s to tell whose it is", unsure.TaskID, IdempotencyParam)
	}
	return found, nil
}

// digestsOf reads a task's callback URL (once per call) for its kg_idem.
func (l *historyLookup) digestsOf(ctx context.Context, id ID) (callbackDigests, error) {
	if got, ok := l.read[id]; ok {
		return got, nil
	}
	if l.reads++; l.reads > maxExactReads {
		return callbackDigests{}, unreadable("more than %d tasks of the customer to read one by one", maxExactReads)
	}
	detail, err := l.tasks.Get(ctx, id, l.opts...)
	if err != nil {
		return callbackDigests{}, err
	}
	var probe struct {
		CallbackURL *string `json:"callback_url"`
	}
	got := callbackDigests{}
	if json.Unmarshal(detail.RawJSON(), &probe) == nil && probe.CallbackURL != nil {
		if u, err := url.Parse(*probe.CallbackURL); err == nil {
			if query, err := parseCallbackQuery(u.RawQuery); err == nil {
				got = callbackDigests{digests: query[IdempotencyParam], known: true}
			}
		}
	}
	if l.read == nil {
		l.read = map[ID]callbackDigests{}
	}
	l.read[id] = got
	return got, nil
}

// sameTarget reports whether a task of the history searches the request's
// target, as far as the summary shows it. (Lookups refuse requests with
// FromIDVID, whose tasks take their birthday and citizenship from the IDV
// task.)
func sameTarget(req *CreateTaskRequest, got *Target) bool {
	want := &req.Target
	if want.Type != got.Type || !sameText(want.Name, got.Name) {
		return false
	}
	return sameIfBoth(want.Birthday, got.Birthday) && sameCountry(want.Citizenship, got.Citizenship)
}

// sameText compares by meaning: canonically equivalent Unicode (composed
// or decomposed), any case, runs of white space as one space, and the ends
// trimmed.
func sameText(a, b string) bool {
	return a == b || redact.Fold(a) == redact.Fold(b)
}

func sameIfBoth(a, b string) bool { return a == "" || b == "" || sameText(a, b) }

// sameCountry compares two citizenships. The API takes alpha-3 and numeric
// codes; one of each may name the same country, so they count as equal.
func sameCountry(a, b string) bool {
	return sameIfBoth(a, b) || isDigits(a) != isDigits(b)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// withoutParams returns a URL without the named query parameters, its
// query otherwise as it was; a URL that does not parse as it is.
func withoutParams(rawURL string, names ...string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.RawQuery == "" {
		return rawURL
	}
	query, err := parseCallbackQuery(u.RawQuery)
	if err != nil {
		return rawURL
	}
	for _, name := range names {
		query.Del(name)
	}
	u.RawQuery = query.Encode()
	return u.String()
}
