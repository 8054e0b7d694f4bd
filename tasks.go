package kryptogo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/kyabc/kryptogo-go/internal/check"
	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// TaskService manages due-diligence (DD) search tasks on people and companies.
type TaskService struct {
	client *Client
	claims taskClaims // the CreateOnce registry: tasks taken, sends in flight
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

// CreateTaskRequest is one DD search task to create. It prints as its search
// setting and target type.
type CreateTaskRequest struct {
	SearchSettingID   ID            `json:"search_setting_id"`            // required: the number ending its page URL in the console
	Target            Target        `json:"target"`                       // required
	SearchSource      SearchSources `json:"search_source"`                // empty: all five
	CallbackURL       string        `json:"callback_url,omitempty"`       // gets the summary on completion and on each decision; sign it
	CustomerReference string        `json:"customer_reference,omitempty"` // your reference for the customer
	FromIDVID         ID            `json:"from_idv_id,omitempty"`        // an IDV task, whose birthday, citizenship, reference and callback URL the API copies
	IdempotencyKey    string        `json:"-"`                            // at most once per key (package doc); needs CustomerReference, no FromIDVID
}

func (r CreateTaskRequest) view() redactedView {
	return view("CreateTaskRequest", idAttr("search_setting_id", r.SearchSettingID), slog.String("target_type", r.Target.Type.String()), idAttr("from_idv_id", r.FromIDVID))
}

// Format prints the redacted form for every verb.
func (r CreateTaskRequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
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
	validateIdempotencyKey(v, r.IdempotencyKey)
	checkIdempotencyParam(v, "callback_url", r.CallbackURL, r.IdempotencyKey)
}

// personalValues returns the target's name and birthday.
func (r CreateTaskRequest) personalValues() []string { return r.appendPersonal(nil) }

// appendPersonal appends the target's name and birthday, those not empty.
func (r *CreateTaskRequest) appendPersonal(out []string) []string {
	return r.Target.appendPersonal(out)
}

// CreatedTask is the receipt for one created task. It prints as its id.
type CreatedTask struct {
	rawResponse
	TaskID    ID        `json:"task_id"`
	Timestamp Timestamp `json:"timestamp"`
}

func (t CreatedTask) view() redactedView {
	return view("CreatedTask", idAttr("task_id", t.TaskID))
}

// Format prints the redacted form for every verb.
func (t CreatedTask) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the redacted form.
func (t CreatedTask) LogValue() slog.Value { return t.view().logValue() }

// UnmarshalJSON decodes the receipt and keeps the JSON for RawJSON.
func (t *CreatedTask) UnmarshalJSON(data []byte) error { return decodeKeepingRaw(data, t) }

func (t *CreatedTask) decodeTarget() any {
	type plain CreatedTask
	return (*plain)(t)
}

// createdTasks is the answer of POST /task, which decode reads through a
// shadow (decodeShadow).
type createdTasks []CreatedTask

// decodeTarget is what the answer is decoded into when the shadow cannot
// vouch for it: the receipts themselves, named as before in errors.
func (t *createdTasks) decodeTarget() any { return (*[]CreatedTask)(t) }

// decodeShadow decodes data, the receipts' JSON, as json.Unmarshal into
// []CreatedTask would, and reports whether it did. The receipts are read
// as the type without methods that CreatedTask.UnmarshalJSON decodes
// into, in the one pass over the body instead of a nested json.Unmarshal
// and a copy each; each keeps its JSON for RawJSON as a slice of data, the
// answer's body, which decode's caller owns.
func (t *createdTasks) decodeShadow(data []byte) bool {
	type plain CreatedTask // the layout of CreatedTask, without its methods
	// Each receipt starts from zero, as CreatedTask.UnmarshalJSON decodes
	// it: encoding/json decodes into a slice's elements in place, up to
	// its capacity, and would keep what a reused slice held where data
	// lacks a member (or has null). A new answer's slice has none.
	clear((*t)[:cap(*t)])
	if json.Unmarshal(data, (*[]plain)(unsafe.Pointer(t))) != nil {
		return false
	}
	if len(*t) == 0 {
		return true // null or []: no receipt keeps JSON
	}
	n := 0
	ok := jsonscan.Elements(data, func(raw []byte) {
		if n < len(*t) {
			(*t)[n].setRaw(raw)
		}
		n++
	})
	return ok && n == len(*t)
}

// Create creates DD search tasks in one POST /task and returns one receipt
// per task, in the order of reqs. With keys, the keys done are answered from
// the store; a send in doubt returns ErrMaybeSent, and the next call with its
// keys looks the tasks up first.
func (s *TaskService) Create(ctx context.Context, reqs []CreateTaskRequest, opts ...Option) ([]CreatedTask, error) {
	tasks, err := validateTaskBatch(reqs, false)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksCreate, opts, err)
	}
	return s.createChecked(ctx, &opTasksCreate, tasks, false, opts)
}

// create sends tasks that were validated and given their defaults: the one
// send of Create, CreateOne and CreateOnce (op), which validate each in
// their own way and only once.
func (s *TaskService) create(ctx context.Context, op *Operation, tasks []CreateTaskRequest, opts []Option) ([]CreatedTask, error) {
	got, err := sendJSON[createdTasks](ctx, s.client, op, "/task", taskBatch(tasks).body(), opts)
	if err != nil {
		return nil, err
	}
	if out := []CreatedTask(*got); len(out) != len(tasks) {
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

// personalValues returns the personal values of every task of the batch.
func (b taskBatch) personalValues() []string {
	out := make([]string, 0, 2*len(b)) // one allocation: a name and a birthday each
	for i := range b {
		out = b[i].appendPersonal(out)
	}
	return out
}

// createTaskWire is a CreateTaskRequest as POST /task's body holds it: the
// same members (TestCreateTaskWire), with types that encoding/json
// encodes itself, without the MarshalJSON of Target and ID, each a nested
// encoding and a validation of its output. The target's Extra is not
// held: a batch with Extra is encoded as itself (body).
type createTaskWire struct {
	SearchSettingID   int64         `json:"search_setting_id"`
	Target            plainTarget   `json:"target"`
	SearchSource      SearchSources `json:"search_source"`
	CallbackURL       string        `json:"callback_url,omitempty"`
	CustomerReference string        `json:"customer_reference,omitempty"`
	FromIDVID         int64         `json:"from_idv_id,omitempty"`
}

// taskBatchWire is a taskBatch as its body holds it (createTaskWire).
type taskBatchWire []createTaskWire

// personalValues returns the personal values of every task of the batch.
func (b taskBatchWire) personalValues() []string {
	out := make([]string, 0, 2*len(b)) // one allocation: a name and a birthday each
	for i := range b {
		out = (*Target)(&b[i].Target).appendPersonal(out)
	}
	return out
}

// body returns what encodes to the batch's JSON at the least cost: the
// batch as taskBatchWire when no target has Extra, else the batch.
func (b taskBatch) body() personalData {
	wire := make(taskBatchWire, len(b))
	for i := range b {
		r := &b[i]
		if len(r.Target.Extra) > 0 {
			return b
		}
		wire[i] = createTaskWire{SearchSettingID: int64(r.SearchSettingID), Target: plainTarget(r.Target), SearchSource: r.SearchSource,
			CallbackURL: r.CallbackURL, CustomerReference: r.CustomerReference, FromIDVID: int64(r.FromIDVID)}
	}
	return wire
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

// CreateOne creates one DD search task as Create does (POST /task); its
// validation errors name fields without an index.
func (s *TaskService) CreateOne(ctx context.Context, req CreateTaskRequest, opts ...Option) (*CreatedTask, error) {
	valid, err := validateOneTask(&req)
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksOne, opts, err)
	}
	out, err := s.createChecked(ctx, &opTasksOne, []CreateTaskRequest{*valid}, false, opts)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// TaskReport is a DD task's outcome, nil until known; it prints as its decision.
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

// Format prints the redacted form for every verb.
func (r TaskReport) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
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

// TaskSummary is a DD task's summary, also the body of its callback. It
// prints as its id, target type and progress.
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

// Format prints the redacted form for every verb.
func (t TaskSummary) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the redacted form.
func (t TaskSummary) LogValue() slog.Value { return t.view().logValue() }

// UnmarshalJSON decodes the summary and keeps the JSON for RawJSON.
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

// Summary fetches a DD task's summary: GET /task/{task_id}/summary.
func (s *TaskService) Summary(ctx context.Context, id ID, opts ...Option) (*TaskSummary, error) {
	return getByID[TaskSummary](ctx, s.client, &opTasksSum, id, opts)
}

// TaskDetail is everything the API holds on a DD task. It prints as its id,
// target type and audit status.
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

// Format prints the redacted form for every verb.
func (t TaskDetail) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the redacted form.
func (t TaskDetail) LogValue() slog.Value { return t.view().logValue() }

// taskDetailRaw are the members of a task detail kept as raw JSON, in the
// order of setRawMember (decodeCut).
var taskDetailRaw = []string{"result", "comment_logs"}

func (t *TaskDetail) rawMemberNames() []string { return taskDetailRaw }

func (t *TaskDetail) setRawMember(n int, raw json.RawMessage) {
	switch n {
	case 0:
		t.Result = raw
	case 1:
		t.CommentLogs = raw
	}
}

// taskDetailShadow is what decode reads a TaskDetail into (decodeShadow):
// its fields from TaskID on, with the target as a plainTarget, which has
// no UnmarshalJSON. The target is then decoded in encoding/json's one pass
// over the body, instead of in a nested json.Unmarshal of
// Target.UnmarshalJSON (a validation and a decoder more per detail).
var taskDetailShadow = shadowType[TaskDetail]("TaskID", map[reflect.Type]reflect.Type{
	reflect.TypeFor[Target](): reflect.TypeFor[plainTarget](),
})

// decodeShadow decodes data, JSON of a detail, as json.Unmarshal into the
// detail would, and reports whether it did; when it did not (an error),
// the caller decodes data again into the detail itself, for its errors.
// The shadow's target takes every target member of the body in turn, as
// Target.UnmarshalJSON does (null leaves it as it is); Extra is then set
// from the last one, as Target.UnmarshalJSON leaves it.
func (t *TaskDetail) decodeShadow(data []byte) bool {
	shadow := reflect.NewAt(taskDetailShadow, unsafe.Pointer(&t.TaskID)).Interface()
	if json.Unmarshal(data, shadow) != nil {
		return false
	}
	if raw, found := jsonscan.LastMember(data, "target"); found {
		t.Target.setExtra(raw)
	}
	return true
}

// Rating maps the task's risk score to a RiskRating.
func (t *TaskDetail) Rating() RiskRating { return RatingForScore(t.PotentialRisk) }

// ConsoleURL returns the task's page in the KryptoGO web console.
func (t *TaskDetail) ConsoleURL() string { return taskConsoleURL(t.TaskID) }

// Get fetches a DD task's detail: GET /task/{task_id}, not in the reference.
func (s *TaskService) Get(ctx context.Context, id ID, opts ...Option) (*TaskDetail, error) {
	return getByID[TaskDetail](ctx, s.client, &opTasksGet, id, opts)
}

// SetAcceptedRequest records the decision on a task's target.
type SetAcceptedRequest struct {
	Comment  string `json:"comment"`  // required: the reason
	Accepted bool   `json:"accepted"` // accept (true) or reject (false); always sent
}

func (r *SetAcceptedRequest) defaults() {}

func (r *SetAcceptedRequest) validate(v *validator) { v.required("comment", r.Comment) }

// personalValues is empty: the comment is your reviewer's note, not the
// target's data.
func (r SetAcceptedRequest) personalValues() []string { return nil }

// SetAcceptedResult echoes the decision; it prints as its task id and decision.
type SetAcceptedResult struct {
	rawResponse
	TaskID   ID     `json:"task_id"`
	Comment  string `json:"comment"`
	Accepted bool   `json:"accepted"`
}

func (r SetAcceptedResult) view() redactedView {
	return view("SetAcceptedResult", idAttr("task_id", r.TaskID), slog.Bool("accepted", r.Accepted))
}

// Format prints the redacted form for every verb.
func (r SetAcceptedResult) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
func (r SetAcceptedResult) LogValue() slog.Value { return r.view().logValue() }

// SetAccepted records the decision on a task's target, for good (a second one
// matches ErrConflict): POST /task/{task_id}/accepted.
func (s *TaskService) SetAccepted(ctx context.Context, id ID, req *SetAcceptedRequest, opts ...Option) (*SetAcceptedResult, error) {
	body, err := prepare(req, pathID{"task_id", id})
	if err != nil {
		return nil, s.client.refuse(ctx, &opTasksAccept, opts, err)
	}
	return sendJSON[SetAcceptedResult](ctx, s.client, &opTasksAccept, "/task/"+id.String()+"/accepted", body, opts)
}

// Accept accepts a task's target: POST /task/{task_id}/accepted.
func (s *TaskService) Accept(ctx context.Context, id ID, comment string, opts ...Option) (*SetAcceptedResult, error) {
	return s.SetAccepted(ctx, id, &SetAcceptedRequest{Comment: comment, Accepted: true}, opts...)
}

// Reject rejects a task's target: POST /task/{task_id}/accepted.
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

// personalValues is empty: the pairs are your own keys and values.
func (m metadataPairs) personalValues() []string { return nil }

// metadataAnswer is the answer of PUT /task/{task_id}/metadata.
type metadataAnswer struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// failed reports a failure in a 2xx answer: the vendor answers {"code": 0}
// on success, another code otherwise.
func (a *metadataAnswer) failed() bool { return jsonInt(a.Code) != 0 }

// SetMetadata appends key-value pairs to a task: PUT /task/{task_id}/metadata.
func (s *TaskService) SetMetadata(ctx context.Context, id ID, metadata []Metadata, opts ...Option) error {
	pairs := metadataPairs(metadata)
	body, err := prepare(&pairs, pathID{"task_id", id})
	if err != nil {
		return s.client.refuse(ctx, &opTasksMeta, opts, err)
	}
	path := "/task/" + id.String() + "/metadata"
	// A 2xx answer with a non-zero code is an *APIError (metadataAnswer.failed).
	_, err = sendJSON[metadataAnswer](ctx, s.client, &opTasksMeta, path, *body, opts)
	return err
}

// Wait polls GET /task/{task_id}/summary until progress reaches 100. It ends
// early with a *WaitError when ctx ends (give it a deadline) or a poll fails
// for good.
func (s *TaskService) Wait(ctx context.Context, id ID, opts *WaitOptions, callOpts ...Option) (*TaskSummary, error) {
	return waitFor(ctx, s.client, id, opts, callOpts, waitTarget[TaskSummary]{
		kind:    "task",
		idField: "task_id",
		fetch:   func(ctx context.Context, id ID) (*TaskSummary, error) { return s.Summary(ctx, id, callOpts...) },
		done:    (*TaskSummary).Completed,
		setLast: func(e *WaitError, last *TaskSummary) { e.LastTask = last },
	})
}
