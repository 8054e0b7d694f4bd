package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// FindCreated returns the tasks req created since since, oldest first, from
// GET /tasks of req's customer: the lookup CreateOnce makes. since is by the
// API's clock, as the API dates its tasks (creation_time) and as a key's
// record holds its send time (KeyRecord.SentAt): pass the send in doubt's
// time less two minutes, as CreateOnce does; no lag of the API's clock is
// taken off it. A time by your own clock, when the API's runs behind it,
// needs the lag taken off once (the Date header of the API's answers, in
// ResponseInfo.Header with WithResponseInfo, tells it). A task is matched by the key's digest in
// its callback URL (GET /task/{task_id}), else by target. An answer it
// cannot read with certainty is an error, never "none"; the history may list
// a new task late, so look again before taking nil as "not created".
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
	recent, err := lookup.recentTasks(ctx, valid.CustomerReference, atAPITime(since))
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

// apiInstant gives a time by the API's clock, as the client knows it when
// asked: a lookup asks once the first page of the history is answered, so a
// send timed by the client's clock converts with the lag that page's Date
// told (sentByAPIClock), even on a client that had heard no Date before.
type apiInstant func() time.Time

// atAPITime is t, already by the API's clock (a key's record, FindCreated's
// since): taken as it is.
func atAPITime(t time.Time) apiInstant { return func() time.Time { return t } }

// recentTasks returns the customer's tasks created since since(), oldest
// first. since is by the API's clock, as the API dates its tasks
// (creation_time): the lag of the API's clock was taken off once, when a
// time by the client's clock was converted (Client.toAPIClock), and is not
// taken here again, which opened the window by twice the lag, past
// maxAPIClockLag. The API documents neither the order of the history nor that it
// honours page_size, so every page is read, up to an empty page. An answer
// that cannot be read with certainty is an error (errUnreadableHistory):
// a page without a data array, or repeating the previous page's first task
// (a server ignoring page_number), a task without creation time, or in the
// window without a target. A history longer than maxLookupPages pages is
// not read to its end (errHistoryTooLong).
func (l *historyLookup) recentTasks(ctx context.Context, ref string, sinceAt apiInstant) ([]TaskSummary, error) {
	var since time.Time
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
		if page == 1 {
			since = sinceAt() // the client has read this page's Date
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
