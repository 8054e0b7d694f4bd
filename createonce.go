package kryptogo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"
)

// CreateOnce creates DD search tasks as Create does (POST /task), but never
// twice: after a send in doubt it looks each task up (FindCreated) and sends
// again only those not created; with keys across calls and processes, without
// within the call. Requests need a CustomerReference and no FromIDVID. On an
// error the receipts hold the tasks known to exist (TaskID 0 for the others),
// and tasks left in doubt make it match ErrMaybeSent.
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

// How CreateOnce looks a send in doubt up (the README states these figures).
const (
	// createOnceSkew is how long before the send, by the API's clock as
	// the client knows it, a task may be dated and still be the send's:
	// the lag the client knows comes from Dates of whole seconds and may
	// have moved since, and the API's timestamps have whole seconds only.
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
	absent, err := o.reconcile(ctx, doubtful, atAPITime(since))
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
		sentAt := o.tasks.client.now() // by the client's clock
		receipts, err := o.send(ctx, pending)
		if err == nil {
			return o.answerSent(ctx, pending, receipts)
		}
		if !errors.Is(err, ErrMaybeSent) {
			o.notSent(pending)
			return err // nothing of this send was created
		}
		sent := o.sentByAPIClock(sentAt)
		if !o.resolve {
			_ = o.hearAPIClock(ctx, pending)                    // its failure leaves the time as it is
			_ = o.keys.remark(ctx, o.heldKeys(pending), sent()) // logged
			return fmt.Errorf("%w; a call with the same idempotency keys looks the tasks up in the customer's history before sending anything again", err)
		}
		left, lookupErr := o.reconcile(ctx, pending, sent)
		_ = o.keys.remark(ctx, o.heldKeys(pending), sent()) // the lookup read the API's clock; logged
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

// sentByAPIClock is the time of a send in doubt, sentAt by the client's
// clock, converted to the API's with the lag the client knows when asked:
// the send's answer, when one came, and a lookup's first page tell it.
func (o *createOnce) sentByAPIClock(sentAt time.Time) apiInstant {
	return func() time.Time { return o.tasks.client.toAPIClock(sentAt) }
}

// hearAPIClock asks the API for its clock when the client has heard no
// answer yet (its send's answer lost, and no answer before): a history
// page of one task, whose answer, any answer, carries a Date when the API
// sends one. A key left in doubt then holds its send time by the API's
// clock (remark), which a lookup in another process takes as it is. It
// asks until one answer came: a client behind a proxy that drops the Date
// asks once, not before every send. It returns the question's error when
// no answer came (ctx ended, the network failed).
func (o *createOnce) hearAPIClock(ctx context.Context, pending []int) error {
	if o.keys == nil || o.tasks.client.clock.answered() {
		return nil
	}
	_, err := o.tasks.History(ctx, &HistoryOptions{PageSize: 1, PageNumber: 1, CustomerReference: o.reqs[pending[0]].CustomerReference}, o.lookup.opts...)
	if o.tasks.client.clock.answered() {
		return nil
	}
	return err
}

// markSent marks the keys of the pending requests in doubt, right before
// their send.
func (o *createOnce) markSent(ctx context.Context, pending []int) error {
	if o.keys == nil {
		return nil
	}
	keys := o.heldKeys(pending)
	// Whether the mark below reads a lag the client heard: read before it,
	// since another call may hear the API's clock meanwhile (recordDate
	// stores the lag before heard), after this mark took the client's own.
	heard := o.tasks.client.clock.heard.Load()
	if err := o.keys.markSent(ctx, keys); err != nil {
		return err // nothing is sent, not even the question below
	}
	// A key's send time is read as the API's clock by a lookup in any
	// process. A client that has heard no Date yet marked it by its own
	// clock: it asks for the API's before the send and moves the time
	// earlier, so that a crash before the send's answer (whose remark
	// would do it) leaves no time by the client's clock behind, which a
	// lookup would take as the API's and so miss the task when the API's
	// clock runs behind. When the question gets no answer, or the store
	// fails the move, nothing is sent (the keys are released as not sent):
	// a POST then could leave that time behind.
	if heard {
		return nil
	}
	if err := o.hearAPIClock(ctx, pending); err != nil {
		o.notSent(pending)
		return fmt.Errorf("kryptogo: %s: nothing was sent: the API's clock, which a key's send time is recorded by, could not be read (GET /tasks: %w)", o.keys.op, err)
	}
	if err := o.keys.remark(ctx, keys, o.tasks.client.apiNow()); err != nil {
		o.notSent(pending)
		return o.keys.storeFailed("moving the key's send time to the API's clock", err)
	}
	return nil
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
	ctx, stop := o.keys.fenced(ctx)
	defer stop()
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
			o.keys.errorAttr(err))
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
// the name is never one. The name holds the account (a digest of the API
// key, as a fingerprint is keyed with it): two accounts sharing a store
// (production and staging) may each have a task of one id.
func (c *Client) taskOwnerKey(id ID) string {
	mac := hmac.New(sha256.New, []byte(c.creds.key()))
	mac.Write([]byte("kryptogo-task-owner-account-v1"))
	return "kryptogo\ttask-owner\t" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12]) + "\t" + id.String()
}

// own records request i's key as the owner of task id, unless another key
// is recorded first, and reports whether the task is i's: a lookup of
// another key, in any process sharing the store, then leaves it alone.
func (o *createOnce) own(ctx context.Context, i int, id ID) (bool, error) {
	digest := []byte(keyDigest(o.reqs[i].IdempotencyKey))
	rec, err := o.tasks.client.keys.Complete(ctx, o.tasks.client.taskOwnerKey(id), o.keys.token, digest)
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

// reconcile finds the pending requests, sent at sentAt or later by the
// API's clock (the lag taken off once, by whoever timed the send: see
// recentTasks), in their customers' history, from createOnceSkew before,
// asking again after each of reconcileWaits while some are missing; it
// records the tasks found and returns the requests never found, which the
// API did not create. Every reconciliation runs here.
func (o *createOnce) reconcile(ctx context.Context, pending []int, sentAt apiInstant) (left []int, err error) {
	start := time.Now()
	defer func() { o.cfg.observeReconcile(ctx, o.op, len(pending), o.found(pending), err, start) }()
	since := func() time.Time { return sentAt().Add(-createOnceSkew) }
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
func (o *createOnce) match(ctx context.Context, pending []int, since apiInstant) ([]int, error) {
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
				return nil, o.keys.masked("the idempotency store failed recording the task's key: ", err)
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
