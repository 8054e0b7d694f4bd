package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kyabc/kryptogo-go/internal/check"
)

// TaskService creates and manages due-diligence (DD) search tasks: searches
// of news, the Dow Jones database, Taiwan company and verdict records and
// sanctions lists for a person (KYC) or a company (KYB).
type TaskService struct {
	client *Client
	claims taskClaims // the CreateOnce registry: tasks taken, sends in flight
}

// Target is the person or company a DD task searches for.
//
// Build one with KYCTarget or KYBTarget. The API documents the KYC fields
// only; Extra carries any other attribute (such as undocumented KYB fields)
// into the JSON object, and collects the undocumented fields of a decoded
// target.
type Target struct {
	Type        TargetType     `json:"type"`
	Name        string         `json:"name"`
	Birthday    string         `json:"birthday,omitempty"`    // KYC: YYYY-MM-DD
	Citizenship string         `json:"citizenship,omitempty"` // KYC: ISO 3166-1 alpha-3 or numeric
	Extra       map[string]any `json:"-"`
}

func (t Target) view() redactedView {
	return view("Target", slog.String("type", t.Type.String()))
}

// String describes the target by its type, never its name or birthday.
func (t Target) String() string { return t.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the target never shows personal data.
func (t Target) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the target as String describes it.
func (t Target) LogValue() slog.Value { return t.view().logValue() }

// KYCTarget returns the target of a search on a person. birthday
// (YYYY-MM-DD) and citizenship (ISO 3166-1 alpha-3, such as "TWN") may be
// empty.
func KYCTarget(name, birthday, citizenship string) Target {
	return Target{Type: TargetKYC, Name: name, Birthday: birthday, Citizenship: citizenship}
}

// KYBTarget returns the target of a search on a company.
func KYBTarget(name string) Target {
	return Target{Type: TargetKYB, Name: name}
}

var targetFields = map[string]bool{"type": true, "name": true, "birthday": true, "citizenship": true}

// MarshalJSON encodes the documented fields and the Extra attributes.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	base, err := json.Marshal(plain(t))
	if err != nil || len(t.Extra) == 0 {
		return base, err
	}
	keys := make([]string, 0, len(t.Extra))
	for k := range t.Extra {
		if targetFields[k] {
			return nil, fmt.Errorf("kryptogo: target extra field %q shadows a documented field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := base[:len(base)-1] // drop the closing brace
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(t.Extra[k])
		if err != nil {
			return nil, fmt.Errorf("kryptogo: target extra field %q: %w", k, err)
		}
		out = append(append(append(append(out, ','), kb...), ':'), vb...)
	}
	return append(out, '}'), nil
}

// UnmarshalJSON decodes the documented fields and keeps the others in Extra.
func (t *Target) UnmarshalJSON(data []byte) error {
	type plain Target
	if err := json.Unmarshal(data, (*plain)(t)); err != nil {
		return err
	}
	t.Extra = nil
	if !hasKeyOutside(data, targetFields) {
		return nil // the usual target: no second decode into a map
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		return nil // null or not an object: nothing extra
	}
	for k, v := range all {
		if !targetFields[k] {
			if t.Extra == nil {
				t.Extra = map[string]any{}
			}
			t.Extra[k] = v
		}
	}
	return nil
}

// hasKeyOutside reports whether the JSON object data has a key that is not
// in known, or one it cannot tell (an escaped key); false for anything but
// an object. data is JSON that json.Unmarshal accepted.
func hasKeyOutside(data []byte, known map[string]bool) bool {
	data = bytes.TrimSpace(data)
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	for i := 1; i < len(data); {
		i = skipSpace(data, i)
		if data[i] != '"' {
			return false // '}': the end of the object
		}
		end := skipString(data, i)
		if key := data[i+1 : end-1]; bytes.IndexByte(key, '\\') >= 0 || !known[string(key)] {
			return true
		}
		i = skipValue(data, skipSpace(data, end)+1) // past the ':' and the value
		i = skipSpace(data, i) + 1                  // past the ',' or '}'
	}
	return false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at or
// after i.
func skipValue(data []byte, i int) int {
	i = skipSpace(data, i)
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(data) && strings.IndexByte(",}] \t\n\r", data[i]) < 0 {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string that starts at i.
func skipString(data []byte, i int) int {
	for i++; i < len(data) && data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i + 1
}

func (t *Target) validate(v *validator) {
	switch t.Type {
	case TargetKYC, TargetKYB:
	default:
		v.addf("target.type", "must be 1 (KYC) or 2 (KYB), got %d", t.Type)
	}
	v.required("target.name", t.Name)
	v.optional("target.birthday", t.Birthday, check.Date)
	v.optional("target.citizenship", t.Citizenship, check.Country)
	for k := range t.Extra {
		if targetFields[k] {
			v.addf("target."+k, "is set both as a field and in Extra")
		}
	}
}

// SearchSetting is the search configuration a task ran with.
type SearchSetting struct {
	Mode          SearchMode `json:"mode"`
	TimeRangeYear int        `json:"time_range_year"` // -1: no limit
	Language      string     `json:"language"`
	NegativeWords []string   `json:"negative_words"`
	Sites         []string   `json:"sites"`
	NumberOfPages int        `json:"number_of_pages"`
}

// CreateTaskRequest is one DD search task to create.
type CreateTaskRequest struct {
	// SearchSettingID is the search setting to use: the number at the end
	// of its page URL in the web console. Required.
	SearchSettingID ID `json:"search_setting_id"`
	// Target is the person or company to search for. Required.
	Target Target `json:"target"`
	// SearchSource lists the databases to search; empty searches all five.
	SearchSource SearchSources `json:"search_source"`
	// CallbackURL is POSTed the task summary when the task completes and
	// whenever its accepted status changes. Sign it with a CallbackSigner.
	CallbackURL string `json:"callback_url,omitempty"`
	// CustomerReference is your system's reference for the customer.
	CustomerReference string `json:"customer_reference,omitempty"`
	// FromIDVID links the task to an IDV task; the API then copies the
	// birthday, citizenship, customer reference and callback URL from it.
	FromIDVID ID `json:"from_idv_id,omitempty"`
}

func (r CreateTaskRequest) view() redactedView {
	return view("CreateTaskRequest", idAttr("search_setting_id", r.SearchSettingID), slog.String("target_type", r.Target.Type.String()), idAttr("from_idv_id", r.FromIDVID))
}

// String describes the request by its setting and target type.
func (r CreateTaskRequest) String() string { return r.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the request never shows personal data.
func (r CreateTaskRequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the request as String describes it.
func (r CreateTaskRequest) LogValue() slog.Value { return r.view().logValue() }

// defaults searches every source when none is listed.
func (r *CreateTaskRequest) defaults() {
	if len(r.SearchSource) == 0 {
		r.SearchSource = AllSearchSources
	}
}

func (r *CreateTaskRequest) validate(v *validator) {
	if r.SearchSettingID <= 0 {
		v.add("search_setting_id", "is required (a positive id)")
	}
	r.Target.validate(v)
	for i, s := range r.SearchSource {
		if !s.known() {
			v.addf("search_source["+strconv.Itoa(i)+"]", "%d is not a search source (0-4)", s)
		}
	}
	v.optional("callback_url", r.CallbackURL, check.HTTPURL)
	validateCallbackReferences(v, r.CustomerReference, r.CallbackURL, "")
	if r.FromIDVID < 0 {
		v.add("from_idv_id", "must not be negative")
	}
}

// CreatedTask is the API's receipt for one created task.
type CreatedTask struct {
	rawResponse
	TaskID    ID        `json:"task_id"`
	Timestamp Timestamp `json:"timestamp"`
}

func (t CreatedTask) view() redactedView {
	return view("CreatedTask", idAttr("task_id", t.TaskID))
}

// String describes the receipt by its task id.
func (t CreatedTask) String() string { return t.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the receipt never shows personal data.
func (t CreatedTask) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the receipt as String describes it.
func (t CreatedTask) LogValue() slog.Value { return t.view().logValue() }

// UnmarshalJSON decodes the receipt and keeps the JSON for RawJSON: the
// receipts arrive as an array, so the client's decode cannot attach it.
func (t *CreatedTask) UnmarshalJSON(data []byte) error { return decodeKeepingRaw(data, t) }

func (t *CreatedTask) decodeTarget() any {
	type plain CreatedTask
	return (*plain)(t)
}

// Create creates DD search tasks in one batch and returns one receipt per
// task, in the order of reqs. Each task costs points.
//
// An empty SearchSource searches all five sources. Should the API answer a
// different number of receipts than tasks sent, Create returns the receipts
// it got together with an error matching ErrInvalidResponse, since the tasks
// may exist and cost points.
//
// API: POST /task
func (s *TaskService) Create(ctx context.Context, reqs []CreateTaskRequest, opts ...Option) ([]CreatedTask, error) {
	tasks, err := validateCreateTasks(reqs)
	if err != nil {
		return nil, err
	}
	return s.create(ctx, tasks, opts)
}

// create sends tasks that were validated and given their defaults: the one
// send of Create, CreateOne and CreateOnce, which validate each in their
// own way and only once.
func (s *TaskService) create(ctx context.Context, tasks []CreateTaskRequest, opts []Option) ([]CreatedTask, error) {
	got, err := sendJSON[[]CreatedTask](ctx, s.client, http.MethodPost, "/task", tasks, tasksPersonalValues(tasks), opts)
	if err != nil {
		return nil, err
	}
	if out := *got; len(out) != len(tasks) {
		return out, &ResponseError{Method: http.MethodPost, Path: "/task", StatusCode: http.StatusOK,
			Err: fmt.Errorf("sent %d tasks, got %d receipts", len(tasks), len(out))}
	}
	return *got, nil
}

// taskBatch is the body of POST /task: one or more tasks.
type taskBatch []CreateTaskRequest

// defaults fills in the defaults of each task, on a copy of the batch.
func (b *taskBatch) defaults() {
	*b = append(taskBatch(nil), *b...)
	for i := range *b {
		(*b)[i].defaults()
	}
}

func (b *taskBatch) validate(v *validator) {
	if len(*b) == 0 {
		v.add("tasks", "at least one task is required")
	}
	for i := range *b {
		v.nested("["+strconv.Itoa(i)+"].", func() { (*b)[i].validate(v) })
	}
}

// validateCreateTasks returns the tasks to send, with their defaults.
func validateCreateTasks(reqs []CreateTaskRequest) ([]CreateTaskRequest, error) {
	batch := taskBatch(reqs)
	body, err := prepare(&batch)
	if err != nil {
		return nil, err
	}
	return *body, nil
}

// CreateOne creates one DD search task and returns its receipt: Create for
// the common case of a single task, whose validation errors name the fields
// without an index ("target.name", not "[0].target.name"). The task costs
// points.
//
// API: POST /task
func (s *TaskService) CreateOne(ctx context.Context, req CreateTaskRequest, opts ...Option) (*CreatedTask, error) {
	valid, err := prepare(&req)
	if err != nil {
		return nil, err
	}
	out, err := s.create(ctx, []CreateTaskRequest{*valid}, opts)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// CreateOnce creates DD search tasks as Create does, but never twice. When a
// send fails in a way that leaves in doubt whether the API created the tasks
// (an error matching ErrMaybeSent: the connection broke after the request
// was written, a 5xx, an unreadable 2xx answer), it looks each task up in
// its customer's history and sends again only those the API did not create.
// It returns one receipt per request, in the order of reqs. A send that
// succeeds costs one POST and no lookup.
//
// Every request needs a CustomerReference, since the lookup is by customer:
// without one, CreateOnce returns a *ValidationError and sends nothing. A
// request with FromIDVID is refused the same way: the API gives such a task
// the IDV task's customer reference, so a lookup under the request's could
// miss it and create it twice. Use Create for those.
//
// A task of the history counts as a request's when it belongs to the same
// customer, searches the same target (type and name, ignoring case and
// spacing, and birthday and citizenship where both the request and the
// history give them) and was created at most two minutes before the send by
// the local clock, since the API's clock may run behind. The history does
// not show a task's search setting or sources, so requests of one batch for
// the same customer and target are matched to the tasks found one to one,
// the oldest task to the first request. A receipt found in the history
// carries the task's creation time as its Timestamp, and no RawJSON.
//
// The API documents neither the order of the history nor that it honours
// page_size, so CreateOnce assumes neither: it reads every page, up to an
// empty one (or one that repeats the previous page), at most 25 pages of
// 20 tasks per customer. When the customer's history is longer, the lookup
// is inconclusive: CreateOnce sends nothing again and returns an error
// matching ErrMaybeSent that says the history was too long to check.
//
// What remains possible: the history may list a new task late. CreateOnce
// asks it five times over about ten seconds before it decides that a task
// was not created; a task the history lists later than that is created
// again by the re-send. Conversely, a task for the same customer and target
// created in the two minutes before the send (by Create, by another process
// or client, or in the web console) is taken for this call's, and no new
// one is created. CreateOnce calls of one client never take the same task,
// and a task the API created is reported by one call only: the client
// remembers the tasks its CreateOnce calls received in an answer (a short
// one included) or claimed, for ten minutes past the start of the oldest
// CreateOnce call still running, and a lookup waits (while ctx lasts) for the client's other
// CreateOnce sends for the same customer that were in flight when it read
// the history, so a task another call receives in its answer is that
// call's. Across processes nothing is shared. The wait is
// fixed; should your history lag longer, use Create and look the tasks up
// yourself (History with CustomerReference) before sending again. CreateOnce
// sends at most three times; when the last send is still in doubt, its error
// matches ErrMaybeSent.
//
// On an error, the receipts returned hold the tasks known to exist, with
// TaskID 0 for the others, or are nil when none is known. An error that
// leaves tasks in doubt (a failed lookup, an ended ctx) matches ErrMaybeSent.
//
// Names are compared as text, without Unicode normalisation (the standard
// library has none): a name the API stores composed (NFC) while the request
// spelled it decomposed (NFD), or the reverse, does not match, and the task
// is created again. Send names in NFC. Birthdays are compared as text
// too: a history that gives a birthday in another form than the request's
// (1990/01/02 for 1990-01-02) does not match, and the task is created
// again.
//
// opts apply to every request of the call, sends and lookups alike;
// WithResponseInfo reports the last request's answer.
//
// API: POST /task; after a send in doubt, GET /tasks?customer_reference=…
func (s *TaskService) CreateOnce(ctx context.Context, reqs []CreateTaskRequest, opts ...Option) ([]CreatedTask, error) {
	tasks, err := validateCreateOnce(reqs)
	if err != nil {
		return nil, err
	}
	cfg, err := s.client.config(opts)
	if err != nil {
		return nil, err
	}
	o := &createOnce{tasks: s, opts: opts, cfg: cfg, reqs: tasks, out: make([]CreatedTask, len(reqs)), claimed: map[ID]bool{}}
	// The lookups' errors are this call's: masked of what its POST sent.
	o.lookupOpts = append(opts[:len(opts):len(opts)], withPersonal(tasksPersonalValues(tasks)))
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
		left, lookupErr := o.lookUp(ctx, pending, sentAt)
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
	return o.tasks.create(ctx, o.subset(pending), o.opts)
}

func (o *createOnce) subset(idx []int) []CreateTaskRequest {
	reqs := make([]CreateTaskRequest, len(idx))
	for k, i := range idx {
		reqs[k] = o.reqs[i]
	}
	return reqs
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

// taskClaims is the registry of the CreateOnce calls of one client: the
// tasks they took as theirs (received in a send's answer, or found in the
// history after a send in doubt), their sends in flight by customer, and
// the calls running. A task is claimed by one call: a lookup claims a task
// of the history only after every send for the same customer that was in
// flight when the history was read has resolved, since such a send's
// receipt may be that task and its sender claims it first. So two calls
// never report the same task, whatever the interleaving. Other processes
// and clients share nothing.
type taskClaims struct {
	mu    sync.Mutex
	held  map[ID]taskClaim                // the tasks claimed, and by whom
	sends map[string]map[*createSend]bool // sends in flight, by customer reference
	calls map[*createOnce]time.Time       // the calls running, and when each began
}

// taskClaim is a task one CreateOnce call took as its own.
type taskClaim struct {
	by *createOnce
	at time.Time
}

// createSend is one POST of a CreateOnce call while it is in flight.
type createSend struct {
	refs []string      // its customers, without repeats
	done chan struct{} // closed once it resolved and its receipts were claimed
}

// claimTTL is how long a claim is kept past the start of the oldest call
// still running (or past now, when none runs): well past the window of any
// lookup that call could make (createOnceSkew before its sends), however
// long its sends and lookups take, and short enough to keep the map small.
const claimTTL = 10 * time.Minute

// enter marks the call o as running since now: the claims its lookups could
// meet are kept until it leaves.
func (c *taskClaims) enter(o *createOnce, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[*createOnce]time.Time{}
	}
	c.calls[o] = now
}

// leave marks the call o as ended.
func (c *taskClaims) leave(o *createOnce) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.calls, o)
}

// begin marks a send for the customers refs as in flight.
func (c *taskClaims) begin(refs []string) *createSend {
	s := &createSend{done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sends == nil {
		c.sends = map[string]map[*createSend]bool{}
	}
	for _, ref := range refs {
		if c.sends[ref][s] {
			continue
		}
		if c.sends[ref] == nil {
			c.sends[ref] = map[*createSend]bool{}
		}
		c.sends[ref][s] = true
		s.refs = append(s.refs, ref)
	}
	return s
}

// finish claims the receipts of a send for its call, by (none when no
// answer came), then ends its mark, under one lock: a lookup waiting for it
// finds them claimed.
func (c *taskClaims) finish(s *createSend, by *createOnce, receipts []ID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	for _, id := range receipts {
		// No other call holds a receipt: a lookup that could have read it
		// waited for this send.
		c.claim(id, by, now)
	}
	for _, ref := range s.refs {
		delete(c.sends[ref], s)
		if len(c.sends[ref]) == 0 {
			delete(c.sends, ref)
		}
	}
	close(s.done)
}

// awaitSends waits until every send for the customer ref in flight now has
// resolved, or ctx ends. Sends that begin later are not waited for: their
// tasks cannot be in a history read before they began.
func (c *taskClaims) awaitSends(ctx context.Context, ref string) error {
	return awaitAll(ctx, c.inFlight(ref))
}

// inFlight returns the sends for the customer ref in flight now.
func (c *taskClaims) inFlight(ref string) []*createSend {
	c.mu.Lock()
	defer c.mu.Unlock()
	sends := make([]*createSend, 0, len(c.sends[ref]))
	for s := range c.sends[ref] {
		sends = append(sends, s)
	}
	return sends
}

// awaitAll waits until every send resolved, or ctx ends.
func awaitAll(ctx context.Context, sends []*createSend) error {
	for _, s := range sends {
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for another CreateOnce call's send for the same customer: %w", ctx.Err())
		}
	}
	return nil
}

// take claims the task for the call by unless another call holds it, and
// reports whether it did. Claims past claimTTL are dropped first.
func (c *taskClaims) take(id ID, by *createOnce, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if held, ok := c.held[id]; ok && held.by != by {
		return false
	}
	c.claim(id, by, now)
	return true
}

func (c *taskClaims) claim(id ID, by *createOnce, now time.Time) {
	if c.held == nil {
		c.held = map[ID]taskClaim{}
	}
	c.held[id] = taskClaim{by: by, at: now}
}

// prune drops the claims made more than claimTTL before the start of the
// oldest call running, or before now when no call runs: a call that began
// later cannot meet their tasks, whose creation lies more than
// createOnceSkew before its sends.
func (c *taskClaims) prune(now time.Time) {
	horizon := now
	for _, began := range c.calls {
		if began.Before(horizon) {
			horizon = began
		}
	}
	for id, held := range c.held {
		if horizon.Sub(held.at) > claimTTL {
			delete(c.held, id)
		}
	}
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

// TaskReport is the outcome of a DD task in its summary. It is nil until
// the task has one.
type TaskReport struct {
	SanctionMatched bool   `json:"sanction_matched"`
	PotentialRisk   int    `json:"potential_risk"` // 0-100 risk score
	URL             string `json:"url"`
	Accepted        *bool  `json:"accepted"` // nil: not decided yet
	Comment         string `json:"comment"`
}

func (r TaskReport) view() redactedView {
	return view("TaskReport", slog.String("accepted", acceptedText(r.Accepted)))
}

// String describes the report by its decision, never its comment or link.
func (r TaskReport) String() string { return r.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the report never shows personal data.
func (r TaskReport) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the report as String describes it.
func (r TaskReport) LogValue() slog.Value { return r.view().logValue() }

// acceptedText names a decision that may not have been made yet.
func acceptedText(accepted *bool) string {
	switch {
	case accepted == nil:
		return "undecided"
	case *accepted:
		return "accepted"
	default:
		return "rejected"
	}
}

// Rating maps the report's risk score to a RiskRating.
func (r *TaskReport) Rating() RiskRating { return RatingForScore(r.PotentialRisk) }

// TaskSummary is the summary of a DD task: what GET /task/{id}/summary
// answers and what the API POSTs to the task's callback URL.
type TaskSummary struct {
	rawResponse
	TaskID            ID            `json:"task_id"`
	SearchSetting     SearchSetting `json:"search_setting"`
	Target            Target        `json:"target"`
	CustomerReference string        `json:"customer_reference"`
	Progress          int           `json:"progress"` // 100: completed
	TaskOrigin        TaskOrigin    `json:"task_origin"`
	CreationTime      Timestamp     `json:"creation_time"`
	UpdateTime        Timestamp     `json:"update_time"`
	AuditTime         Timestamp     `json:"audit_time"`
	Report            *TaskReport   `json:"report"`
	Metadata          MetadataList  `json:"metadata"`
}

func (t TaskSummary) view() redactedView {
	return view("TaskSummary", idAttr("task_id", t.TaskID), slog.String("target_type", t.Target.Type.String()), slog.Int("progress", t.Progress))
}

// String describes the summary by its id and progress, never its target.
func (t TaskSummary) String() string { return t.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the summary never shows personal data.
func (t TaskSummary) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the summary as String describes it.
func (t TaskSummary) LogValue() slog.Value { return t.view().logValue() }

// UnmarshalJSON decodes the summary and keeps the JSON for RawJSON, for the
// summaries of a history page and of callbacks.
func (t *TaskSummary) UnmarshalJSON(data []byte) error { return decodeKeepingRaw(data, t) }

func (t *TaskSummary) decodeTarget() any {
	type plain TaskSummary
	return (*plain)(t)
}

// Completed reports whether the search has finished (progress 100).
func (t *TaskSummary) Completed() bool { return t.Progress >= 100 }

// ConsoleURL returns the task's page in the KryptoGO web console.
func (t *TaskSummary) ConsoleURL() string { return taskConsoleURL(t.TaskID) }

func taskConsoleURL(id ID) string { return "https://app.kryptogo.com/compliance/audit/" + id.String() }

// Summary fetches the summary of a DD task.
//
// API: GET /task/{task_id}/summary
func (s *TaskService) Summary(ctx context.Context, id ID, opts ...Option) (*TaskSummary, error) {
	return getByID[TaskSummary](ctx, s.client, "/task/{task_id}/summary", id, opts)
}

// TaskDetail is everything the API holds on a DD task.
//
// The API documents no shape for result and comment_logs; they are raw JSON.
type TaskDetail struct {
	rawResponse
	TaskID                 ID              `json:"task_id"`
	Target                 Target          `json:"target"`
	SearchSetting          SearchSetting   `json:"search_setting"`
	SearchSource           SearchSources   `json:"search_source"`
	CallbackURL            string          `json:"callback_url"`
	CustomerReference      string          `json:"customer_reference"`
	Result                 json.RawMessage `json:"result,omitempty"`
	SanctionMatched        bool            `json:"sanction_matched"`
	CompletedSource        int             `json:"completed_source"`
	PotentialRisk          int             `json:"potential_risk"` // 0-100 risk score
	AuditStatus            AuditStatus     `json:"audit_status"`
	Comment                string          `json:"comment"`
	AuditTime              Timestamp       `json:"audit_time"`
	AuditorEmployeeID      ID              `json:"auditor_employee_id"`
	AuditorEmployeeName    string          `json:"auditor_employee_name"`
	AuditorEmployeeAccount string          `json:"auditor_employee_account"`
	EmployeeID             ID              `json:"employee_id"`
	EmployeeName           string          `json:"employee_name"`
	EmployeeAccount        string          `json:"employee_account"`
	CreationTime           Timestamp       `json:"creation_time"`
	UpdateTime             Timestamp       `json:"update_time"`
	CompletedTime          Timestamp       `json:"completed_time"`
	FromIDVID              ID              `json:"from_idv_id"`
	CommentTime            Timestamp       `json:"comment_time"`
	CommentEmployeeID      ID              `json:"comment_employee_id"`
	CommentEmployeeName    string          `json:"comment_employee_name"`
	CommentEmployeeAccount string          `json:"comment_employee_account"`
	Metadata               MetadataList    `json:"metadata"`
	CommentLogs            json.RawMessage `json:"comment_logs,omitempty"`
	AMLSummarization       string          `json:"aml_summarization"`
	NextReviewAt           Timestamp       `json:"next_review_at"`
}

func (t TaskDetail) view() redactedView {
	return view("TaskDetail", idAttr("task_id", t.TaskID), slog.String("target_type", t.Target.Type.String()), slog.String("audit_status", t.AuditStatus.String()))
}

// String describes the detail by its id and audit status, never its target.
func (t TaskDetail) String() string { return t.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the detail never shows personal data.
func (t TaskDetail) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the detail as String describes it.
func (t TaskDetail) LogValue() slog.Value { return t.view().logValue() }

// Rating maps the task's risk score to a RiskRating.
func (t *TaskDetail) Rating() RiskRating { return RatingForScore(t.PotentialRisk) }

// ConsoleURL returns the task's page in the KryptoGO web console.
func (t *TaskDetail) ConsoleURL() string { return taskConsoleURL(t.TaskID) }

// Get fetches everything the API holds on a DD task. The reference hides
// this path; the SDK uses the one public integrations use.
//
// API: GET /task/{task_id}
func (s *TaskService) Get(ctx context.Context, id ID, opts ...Option) (*TaskDetail, error) {
	return getByID[TaskDetail](ctx, s.client, "/task/{task_id}", id, opts)
}

// SetAcceptedRequest records the decision on a task's target.
type SetAcceptedRequest struct {
	// Comment is the reason for the decision. Required.
	Comment string `json:"comment"`
	// Accepted accepts (true) or rejects (false) the target. Always sent.
	Accepted bool `json:"accepted"`
}

func (r *SetAcceptedRequest) defaults() {}

func (r *SetAcceptedRequest) validate(v *validator) { v.required("comment", r.Comment) }

// SetAcceptedResult echoes the recorded decision.
type SetAcceptedResult struct {
	rawResponse
	TaskID   ID     `json:"task_id"`
	Comment  string `json:"comment"`
	Accepted bool   `json:"accepted"`
}

func (r SetAcceptedResult) view() redactedView {
	return view("SetAcceptedResult", idAttr("task_id", r.TaskID), slog.Bool("accepted", r.Accepted))
}

// String describes the result by its task id and decision, never its comment.
func (r SetAcceptedResult) String() string { return r.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the result never shows personal data.
func (r SetAcceptedResult) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the result as String describes it.
func (r SetAcceptedResult) LogValue() slog.Value { return r.view().logValue() }

// SetAccepted accepts or rejects a task's target. A decision is final: a
// second one is an *APIError matching ErrConflict. The API then POSTs the
// task summary to the task's callback URL.
//
// API: POST /task/{task_id}/accepted
func (s *TaskService) SetAccepted(ctx context.Context, id ID, req *SetAcceptedRequest, opts ...Option) (*SetAcceptedResult, error) {
	body, err := prepare(req, pathID{"task_id", id})
	if err != nil {
		return nil, err
	}
	return sendJSON[SetAcceptedResult](ctx, s.client, http.MethodPost, "/task/"+id.String()+"/accepted", body, nil, opts)
}

// Accept accepts a task's target with a comment.
//
// API: POST /task/{task_id}/accepted
func (s *TaskService) Accept(ctx context.Context, id ID, comment string, opts ...Option) (*SetAcceptedResult, error) {
	return s.SetAccepted(ctx, id, &SetAcceptedRequest{Comment: comment, Accepted: true}, opts...)
}

// Reject rejects a task's target with a comment.
//
// API: POST /task/{task_id}/accepted
func (s *TaskService) Reject(ctx context.Context, id ID, comment string, opts ...Option) (*SetAcceptedResult, error) {
	return s.SetAccepted(ctx, id, &SetAcceptedRequest{Comment: comment, Accepted: false}, opts...)
}

// metadataPairs is the body of PUT /task/{task_id}/metadata.
type metadataPairs []Metadata

func (m *metadataPairs) defaults() {}

func (m *metadataPairs) validate(v *validator) {
	if len(*m) == 0 {
		v.add("metadata", "at least one pair is required")
	}
}

// metadataAnswer is the answer of PUT /task/{task_id}/metadata.
type metadataAnswer struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// failed reports a failure in a 2xx answer: the vendor answers {"code": 0}
// on success, another code otherwise.
func (a *metadataAnswer) failed() bool { return jsonInt(a.Code) != 0 }

// SetMetadata appends custom key-value pairs to a task.
//
// API: PUT /task/{task_id}/metadata
func (s *TaskService) SetMetadata(ctx context.Context, id ID, metadata []Metadata, opts ...Option) error {
	pairs := metadataPairs(metadata)
	body, err := prepare(&pairs, pathID{"task_id", id})
	if err != nil {
		return err
	}
	path := "/task/" + id.String() + "/metadata"
	// A 2xx answer with a non-zero code is an *APIError (metadataAnswer.failed).
	_, err = sendJSON[metadataAnswer](ctx, s.client, http.MethodPut, path, []Metadata(*body), nil, opts)
	return err
}

// HistoryOptions selects a page of task history.
type HistoryOptions struct {
	PageSize          int    // tasks per page; 0 means 20
	PageNumber        int    // page to fetch, from 1; 0 means 1
	CustomerReference string // only the tasks of this customer, when set
}

const defaultPageSize = 20

// defaults fills in the first page of 20.
func (o *HistoryOptions) defaults() {
	if o.PageSize == 0 {
		o.PageSize = defaultPageSize
	}
	if o.PageNumber == 0 {
		o.PageNumber = 1
	}
}

func (o *HistoryOptions) validate(v *validator) {
	if o.PageSize < 0 {
		v.add("page_size", "must not be negative")
	}
	if o.PageNumber < 0 {
		v.add("page_number", "must not be negative")
	}
}

// query encodes the options as the query of GET /tasks.
func (o *HistoryOptions) query() url.Values {
	q := url.Values{
		"page_size":   {strconv.Itoa(o.PageSize)},
		"page_number": {strconv.Itoa(o.PageNumber)},
	}
	if o.CustomerReference != "" {
		q.Set("customer_reference", o.CustomerReference)
	}
	return q
}

// prepareHistory returns opts with its defaults; nil is the first page.
func prepareHistory(opts *HistoryOptions) (*HistoryOptions, error) {
	if opts == nil {
		opts = &HistoryOptions{}
	}
	return prepare(opts)
}

// TaskPage is one page of task history. The API documents no shape for
// paging; it is raw JSON.
type TaskPage struct {
	rawResponse
	Data   []TaskSummary   `json:"data"`
	Paging json.RawMessage `json:"paging,omitempty"`
}

func (p TaskPage) view() redactedView {
	return view("TaskPage", slog.Int("tasks", len(p.Data)))
}

// String describes the page by its number of tasks.
func (p TaskPage) String() string { return p.view().String() }

// Format prints String for every verb, by value and by pointer, so printing
// the page never shows personal data.
func (p TaskPage) Format(f fmt.State, verb rune) { p.view().format(f, verb) }

// LogValue logs the page as String describes it.
func (p TaskPage) LogValue() slog.Value { return p.view().logValue() }

// History fetches one page of task history, newest first as the API orders
// it. A nil opts fetches the first page of 20.
//
// API: GET /tasks
func (s *TaskService) History(ctx context.Context, opts *HistoryOptions, callOpts ...Option) (*TaskPage, error) {
	page, err := prepareHistory(opts)
	if err != nil {
		return nil, err
	}
	return call[TaskPage](ctx, s.client, http.MethodGet, "/tasks", page.query(), nil, callOpts)
}

// All iterates over every task of the history, page by page from
// opts.PageNumber. It stops after an empty or short page, after yielding an
// error (once), or when the loop breaks. A page that starts with the same
// task as the page before is an error (a *ResponseError, ErrInvalidResponse):
// whatever answered ignores page_number, and All would never end. callOpts
// apply to every page's request; WithResponseInfo reports the last page's
// answer.
//
//	for task, err := range client.Tasks.All(ctx, nil) { … }
//
// API: GET /tasks
func (s *TaskService) All(ctx context.Context, opts *HistoryOptions, callOpts ...Option) iter.Seq2[*TaskSummary, error] {
	return func(yield func(*TaskSummary, error) bool) {
		page, err := prepareHistory(opts)
		if err == nil {
			_, err = s.client.config(callOpts)
		}
		if err != nil {
			yield(nil, err)
			return
		}
		var previous *TaskPage
		for {
			res, err := s.History(ctx, page, callOpts...)
			if err == nil {
				err = repeatedPage(previous, res, page.PageNumber)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			previous = res
			for i := range res.Data {
				if !yield(&res.Data[i], nil) {
					return
				}
			}
			if len(res.Data) < page.PageSize {
				return
			}
			page.PageNumber++
		}
	}
}

// repeatedPage returns an error when page number n starts with the task
// that started the page before it: the server ignored page_number.
func repeatedPage(previous, page *TaskPage, n int) error {
	if previous == nil || len(previous.Data) == 0 || len(page.Data) == 0 ||
		previous.Data[0].TaskID != page.Data[0].TaskID {
		return nil
	}
	return &ResponseError{Method: http.MethodGet, Path: "/tasks", StatusCode: http.StatusOK,
		Err: fmt.Errorf("page %d starts with the task that started page %d: the server ignores page_number; stopped", n, n-1)}
}

// Wait polls a task's summary until its progress reaches 100, and returns
// that summary. It ends early with a *WaitError, which holds the last
// summary fetched, when ctx ends or a poll fails with an error that waiting
// cannot fix (such as ErrNotFound or ErrUnauthorized). Give ctx a deadline.
// callOpts apply to every poll; WithResponseInfo reports the last poll's
// answer.
//
// API: GET /task/{task_id}/summary, repeatedly
func (s *TaskService) Wait(ctx context.Context, id ID, opts *WaitOptions, callOpts ...Option) (*TaskSummary, error) {
	return waitFor(ctx, s.client, id, opts, callOpts, waitTarget[TaskSummary]{
		kind:    "task",
		idField: "task_id",
		fetch:   func(ctx context.Context, id ID) (*TaskSummary, error) { return s.Summary(ctx, id, callOpts...) },
		done:    (*TaskSummary).Completed,
		setLast: func(e *WaitError, last *TaskSummary) { e.LastTask = last },
	})
}
