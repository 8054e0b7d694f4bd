package kryptogo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CreateOnce creates DD search tasks as Create does, but never twice: when
// a send fails in doubt (an error matching ErrMaybeSent), it looks each task
// up in its customer's history and sends again only those the API did not
// create, at most three sends in all. It returns one receipt per request, in
// the order of reqs; a receipt found in the history carries the task's
// creation time and no RawJSON. A send that succeeds costs one POST.
//
// Every request needs a CustomerReference and must not set FromIDVID (else a
// *ValidationError, nothing sent). A history task is a request's when it
// belongs to the same customer, searches the same target (type and name,
// ignoring case and spacing; birthday and citizenship where both give them;
// compared as text, so send names in NFC) and was created at most two
// minutes before the send; tasks of one batch for one customer and target
// match one to one, oldest first. The lookup reads every page, at most 25 of
// 20 tasks (a longer history sends nothing again: ErrMaybeSent), five times
// over about ten seconds. CreateOnce calls of one client never report one
// task twice; processes share nothing. The README's "Creating tasks exactly
// once" says what remains possible.
//
// On an error, the receipts hold the tasks known to exist (TaskID 0 for the
// others), or are nil when none is; an error that leaves tasks in doubt
// matches ErrMaybeSent. opts apply to every request of the call.
//
// API: POST /task; after a send in doubt, GET /tasks?customer_reference=…
func (s *TaskService) CreateOnce(ctx context.Context, reqs []CreateTaskRequest, opts ...Option) ([]CreatedTask, error) {
	tasks, err := validateCreateOnce(reqs)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksOnce, opts, err)
	}
	cfg, err := s.client.config(opts)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksOnce, nil, err)
	}
	o := &createOnce{tasks: s, opts: opts, cfg: cfg, reqs: tasks, out: make([]CreatedTask, len(reqs)), claimed: map[ID]bool{}}
	// The lookups' errors are this call's: masked of what its POST sent.
	o.lookupOpts = append(opts[:len(opts):len(opts)], withPersonal(taskBatch(tasks).personalValues()))
	return o.run(ctx)
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
)

// createOnceWaits are the pauses between lookups of the history, ten
// seconds in all: the history may list a new task a few seconds late.
var createOnceWaits = []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}

// validateCreateOnce returns the tasks to send, with their defaults, or
// every rule they break, a missing CustomerReference or a FromIDVID
// included.
func validateCreateOnce(reqs []CreateTaskRequest) ([]CreateTaskRequest, error) {
	var refs validator
	for i := range reqs {
		refs.nested("["+strconv.Itoa(i)+"].", func() {
			refs.required("customer_reference", reqs[i].CustomerReference)
			if reqs[i].FromIDVID != 0 {
				refs.add("from_idv_id", "is not supported by CreateOnce: the API gives the task the IDV task's customer reference, so the lookup by this request's reference could miss it and pay twice; use Create")
			}
		})
	}
	tasks, err := validateCreateTasks(reqs)
	if verr, ok := err.(*ValidationError); ok {
		refs.fields = append(verr.Fields, refs.fields...)
	} else if err != nil {
		return nil, err
	}
	if err := refs.err(); err != nil {
		return nil, err
	}
	return tasks, nil
}

// createOnce is one call of CreateOnce.
type createOnce struct {
	tasks      *TaskService
	opts       []Option            // the call's options, given to each request
	lookupOpts []Option            // and to each lookup, with the personal values of reqs
	cfg        *callConfig         // the call's configuration, for its logger
	reqs       []CreateTaskRequest // validated, with their defaults
	out        []CreatedTask       // receipts in input order; TaskID 0 while unknown
	claimed    map[ID]bool         // tasks of the history already matched to a request
}

func (o *createOnce) run(ctx context.Context) ([]CreatedTask, error) {
	// While the call runs, the claims its lookups could meet are kept.
	o.tasks.claims.enter(o, o.tasks.client.now())
	defer o.tasks.claims.leave(o)
	pending := make([]int, len(o.reqs))
	for i := range pending {
		pending[i] = i
	}
	for send := 1; ; send++ {
		sentAt := o.tasks.client.now()
		receipts, err := o.send(ctx, pending)
		if err == nil {
			for k, i := range pending {
				o.out[i] = receipts[k]
			}
			return o.out, nil
		}
		if !errors.Is(err, ErrMaybeSent) {
			return o.known(), err // nothing of this send was created
		}
		lookupStart := time.Now()
		left, lookupErr := o.lookUp(ctx, pending, sentAt)
		o.cfg.observeReconcile(ctx, &opTasksOnce, len(pending), o.found(pending), lookupErr, lookupStart)
		switch {
		case lookupErr != nil:
			return o.known(), fmt.Errorf("kryptogo: CreateOnce: a send is in doubt and looking it up in the history failed (%w); the send: %w", lookupErr, err)
		case len(left) == 0:
			return o.out, nil
		case send == maxCreateOnceSends:
			return o.known(), err
		}
		o.cfg.log(ctx, "kryptogo: CreateOnce: sending again the tasks the API did not create",
			slog.Int("found", len(pending)-len(left)), slog.Int("again", len(left)))
		pending = left
	}
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
	return o.tasks.create(ctx, &opTasksOnce, o.subset(pending), o.opts)
}

func (o *createOnce) subset(idx []int) []CreateTaskRequest {
	reqs := make([]CreateTaskRequest, len(idx))
	for k, i := range idx {
		reqs[k] = o.reqs[i]
	}
	return reqs
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

// lookUp finds the pending requests in the history, asking again after
// each of createOnceWaits while some are missing, and returns those never
// found.
func (o *createOnce) lookUp(ctx context.Context, pending []int, sentAt time.Time) ([]int, error) {
	since := sentAt.Add(-createOnceSkew)
	for attempt := 0; ; attempt++ {
		left, err := o.match(ctx, pending, since)
		if err != nil || len(left) == 0 || attempt == len(createOnceWaits) {
			return left, err
		}
		if err := o.tasks.client.sleep(ctx, createOnceWaits[attempt]); err != nil {
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
		recent, err := o.recentTasks(ctx, ref, since)
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
			if t := o.claim(recent, &o.reqs[i]); t != nil {
				o.out[i] = CreatedTask{TaskID: t.TaskID, Timestamp: t.CreationTime}
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

// recentTasks returns the customer's tasks created since since, oldest
// first. The API documents neither the order of the history nor that it
// honours page_size, so every page is read, up to an empty page or one
// that repeats the previous page's first task (a server ignoring
// page_number). A history longer than maxLookupPages pages is not read to
// its end: the lookup is inconclusive (errHistoryTooLong).
func (o *createOnce) recentTasks(ctx context.Context, ref string, since time.Time) ([]TaskSummary, error) {
	seen := map[ID]bool{}
	var recent []TaskSummary
	var first ID // the previous page's first task
	for page := 1; ; page++ {
		if page > maxLookupPages {
			return nil, errHistoryTooLong
		}
		res, err := o.tasks.History(ctx, &HistoryOptions{PageSize: defaultPageSize, PageNumber: page, CustomerReference: ref}, o.lookupOpts...)
		if err != nil {
			return nil, err
		}
		if len(res.Data) == 0 || res.Data[0].TaskID == first {
			break
		}
		first = res.Data[0].TaskID
		for _, t := range res.Data {
			if seen[t.TaskID] || t.CreationTime.Before(since) {
				continue
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

// errHistoryTooLong ends a lookup that could not read the whole history:
// the task in doubt may be on a page not read, so nothing is sent again.
var errHistoryTooLong = fmt.Errorf("the customer's history is longer than %d pages of %d tasks, too long to check", maxLookupPages, defaultPageSize)

// claim returns the oldest task of recent not matched yet, by this call or
// another CreateOnce call of the client, that searches req's target, and
// marks it matched; nil when there is none.
func (o *createOnce) claim(recent []TaskSummary, req *CreateTaskRequest) *TaskSummary {
	for k := range recent {
		t := &recent[k]
		if !o.claimed[t.TaskID] && sameTarget(req, &t.Target) && o.tasks.claims.take(t.TaskID, o, o.tasks.client.now()) {
			o.claimed[t.TaskID] = true
			return t
		}
	}
	return nil
}

// sameTarget reports whether a task of the history searches the request's
// target, as far as the summary shows it. (CreateOnce refuses requests
// with FromIDVID, whose tasks take their birthday and citizenship from the
// IDV task.)
func sameTarget(req *CreateTaskRequest, got *Target) bool {
	want := &req.Target
	if want.Type != got.Type || !sameText(want.Name, got.Name) {
		return false
	}
	return sameIfBoth(want.Birthday, got.Birthday) && sameCountry(want.Citizenship, got.Citizenship)
}

// sameText compares ignoring case and runs of white space.
func sameText(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
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
