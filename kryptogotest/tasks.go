package kryptogotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// TaskOutcome is the result a DD task completes with.
type TaskOutcome struct {
	PotentialRisk   int // 0-100
	SanctionMatched bool
}

// task is a DD task as the fake holds it.
type task struct {
	detail      kryptogo.TaskDetail // CommentLogs is filled from commentLogs when shown
	progress    int
	commentLogs []commentLog
}

// commentLog is one entry of a task detail's comment_logs. The reference
// shows the field but not its entries: this shape is invented, kept to what
// an accept or reject carries.
type commentLog struct {
	Comment     string             `json:"comment"`
	Accepted    bool               `json:"accepted"`
	CommentTime kryptogo.Timestamp `json:"comment_time"`
}

func (t *task) completed() bool { return t.progress >= 100 }

// summary is what GET /task/{id}/summary answers and callbacks carry.
func (t *task) summary() *kryptogo.TaskSummary {
	d := &t.detail
	s := &kryptogo.TaskSummary{
		TaskID: d.TaskID, SearchSetting: d.SearchSetting, Target: d.Target,
		CustomerReference: d.CustomerReference, Progress: t.progress, TaskOrigin: kryptogo.OriginAPI,
		CreationTime: d.CreationTime, UpdateTime: d.UpdateTime, AuditTime: d.AuditTime,
		Metadata: append(kryptogo.MetadataList{}, d.Metadata...),
	}
	if t.completed() {
		s.Report = &kryptogo.TaskReport{
			SanctionMatched: d.SanctionMatched, PotentialRisk: d.PotentialRisk,
			URL: "https://app.kryptogo.com/compliance/audit/" + d.TaskID.String(), Comment: d.Comment,
		}
		if d.AuditStatus != kryptogo.AuditUndecided {
			accepted := d.AuditStatus == kryptogo.AuditAccepted
			s.Report.Accepted = &accepted
		}
	}
	return s
}

// shown returns a copy of the detail with its comment logs, sharing no
// slice with the store.
func (t *task) shown() kryptogo.TaskDetail {
	d := t.detail
	d.SearchSource = append(kryptogo.SearchSources{}, d.SearchSource...)
	d.Metadata = append(kryptogo.MetadataList{}, d.Metadata...)
	d.CommentLogs = mustJSON(append([]commentLog{}, t.commentLogs...))
	return d
}

// SetTargetRisk sets the outcome of tasks on the named target that complete
// on their own; other targets complete with risk 0 and no sanction match.
func (s *Server) SetTargetRisk(targetName string, outcome TaskOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.risks[targetName] = outcome
}

// CompleteTask finishes a pending DD task with the given outcome and sends
// its callback. It fails for an unknown or already completed task.
func (s *Server) CompleteTask(id kryptogo.ID, outcome TaskOutcome) error {
	return s.complete(func(st *store, now kryptogo.Timestamp) (effects, error) {
		return st.finishTask(id, outcome, now)
	})
}

// Task returns a copy of a DD task as the fake holds it.
func (s *Server) Task(id kryptogo.ID) (*kryptogo.TaskDetail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.state.tasks[id]
	if !ok {
		return nil, false
	}
	d := t.shown()
	return &d, true
}

// wireTask is one task of POST /task, with pointers to tell absent fields.
type wireTask struct {
	SearchSettingID   *kryptogo.ID            `json:"search_setting_id"`
	Target            *kryptogo.Target        `json:"target"`
	SearchSource      *kryptogo.SearchSources `json:"search_source"`
	CallbackURL       string                  `json:"callback_url"`
	CustomerReference string                  `json:"customer_reference"`
	FromIDVID         kryptogo.ID             `json:"from_idv_id"`
}

// check lists what the reference requires: search_setting_id, target and
// search_source (an empty list searches all five sources).
func (w *wireTask) check(prefix string, m *missing) {
	m.need(w.SearchSettingID != nil && *w.SearchSettingID > 0, prefix+"search_setting_id")
	m.need(w.Target != nil && (w.Target.Type == kryptogo.TargetKYC || w.Target.Type == kryptogo.TargetKYB), prefix+"target.type")
	m.need(w.Target != nil && w.Target.Name != "", prefix+"target.name")
	m.need(w.SearchSource != nil && knownSources(*w.SearchSource), prefix+"search_source")
}

func knownSources(sources kryptogo.SearchSources) bool {
	for _, src := range sources {
		if src < kryptogo.SourceNegativeNews || src > kryptogo.SourceSanctionList {
			return false
		}
	}
	return true
}

func (s *Server) createTasks(r *http.Request) (int, any) {
	var reqs []wireTask
	if err := decode(r, &reqs); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	m.need(len(reqs) > 0, "tasks")
	for i := range reqs {
		reqs[i].check("["+strconv.Itoa(i)+"].", &m)
	}
	if len(m) > 0 {
		return m.answer()
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		return st.createTasks(reqs, now)
	})
}

// taskReceipt is one entry of the answer of POST /task.
type taskReceipt struct {
	TaskID    kryptogo.ID        `json:"task_id"`
	Timestamp kryptogo.Timestamp `json:"timestamp"`
}

func (st *store) createTasks(reqs []wireTask, now kryptogo.Timestamp) (int, any, effects) {
	var fx effects
	receipts := make([]taskReceipt, len(reqs))
	for i, req := range reqs {
		id := st.addTask(req, now)
		receipts[i] = taskReceipt{TaskID: id, Timestamp: now}
		fx.newTasks = append(fx.newTasks, id)
	}
	return http.StatusOK, receipts, fx
}

// addTask stores a new pending task and returns its id.
func (st *store) addTask(req wireTask, now kryptogo.Timestamp) kryptogo.ID {
	id := st.nextTask
	st.nextTask++
	sources := kryptogo.SearchSources{}
	if req.SearchSource != nil {
		sources = append(sources, *req.SearchSource...)
	}
	if len(sources) == 0 {
		sources = append(sources, kryptogo.AllSearchSources...)
	}
	st.tasks[id] = &task{detail: kryptogo.TaskDetail{
		TaskID: id, Target: *req.Target, SearchSource: sources,
		SearchSetting: kryptogo.SearchSetting{Mode: kryptogo.SearchModePrecise, TimeRangeYear: -1, Language: "en",
			NegativeWords: []string{}, Sites: []string{}, NumberOfPages: 1},
		CallbackURL: req.CallbackURL, CustomerReference: req.CustomerReference,
		EmployeeID: 1, EmployeeName: "kryptogotest", EmployeeAccount: "kryptogotest@example.com",
		CreationTime: now, UpdateTime: now, FromIDVID: req.FromIDVID, Metadata: kryptogo.MetadataList{},
	}}
	return id
}

// finishTaskOnItsOwn completes a task with the outcome set for its target.
func (st *store) finishTaskOnItsOwn(id kryptogo.ID, now kryptogo.Timestamp) (effects, error) {
	var outcome TaskOutcome
	if t, ok := st.tasks[id]; ok {
		outcome = st.risks[t.detail.Target.Name]
	}
	return st.finishTask(id, outcome, now)
}

func (st *store) finishTask(id kryptogo.ID, outcome TaskOutcome, now kryptogo.Timestamp) (effects, error) {
	t, ok := st.tasks[id]
	switch {
	case !ok:
		return effects{}, fmt.Errorf("kryptogotest: no task %d", id)
	case t.completed():
		return effects{}, fmt.Errorf("kryptogotest: task %d is already completed", id)
	}
	t.progress = 100
	t.detail.PotentialRisk, t.detail.SanctionMatched = outcome.PotentialRisk, outcome.SanctionMatched
	t.detail.CompletedSource = len(t.detail.SearchSource)
	t.detail.CompletedTime, t.detail.UpdateTime = now, now
	t.detail.Result = mustJSON(map[string]any{"source": "kryptogotest"})
	return t.callbackEffects(), nil
}

// callbackEffects is the callback a change of the task makes due.
func (t *task) callbackEffects() effects {
	if t.detail.CallbackURL == "" {
		return effects{}
	}
	return effects{callbacks: []callback{{url: t.detail.CallbackURL, kind: kryptogo.CallbackTask, payload: t.summary()}}}
}

func taskNotFound(r *http.Request) (int, any) {
	return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
}

func (s *Server) taskSummary(r *http.Request) (int, any) {
	return s.viewTask(r, func(t *task) any { return t.summary() })
}

func (s *Server) taskDetail(r *http.Request) (int, any) {
	return s.viewTask(r, func(t *task) any { return detailWire{detail: t.shown(), commented: len(t.commentLogs) > 0} })
}

// viewTask answers what show makes of the task of the {id} path parameter,
// or 404.
func (s *Server) viewTask(r *http.Request, show func(*task) any) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		t, ok := st.tasks[id]
		if !ok {
			return taskNotFound(r)
		}
		return http.StatusOK, show(t)
	})
}

// changeTask runs op on the task of the {id} path parameter as a change,
// or answers 404.
func (s *Server) changeTask(r *http.Request, op func(t *task, now kryptogo.Timestamp) (int, any, effects)) (int, any) {
	id, _ := pathID(r)
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		t, ok := st.tasks[id]
		if !ok {
			status, body := taskNotFound(r)
			return status, body, effects{}
		}
		return op(t, now)
	})
}

// detailWire encodes a task detail as GET /task/{id} answers it: metadata
// as an object (the summary sends an array), and the comment fields null
// until a comment was made, as in the reference's sample.
type detailWire struct {
	detail    kryptogo.TaskDetail
	commented bool
}

// MarshalJSON encodes the detail the way the endpoint does.
func (d detailWire) MarshalJSON() ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mustJSON(d.detail), &fields); err != nil {
		return nil, err
	}
	// An object holds one value a key; metadata is appended, so a key set
	// twice shows its latest value here (the summary's array keeps both).
	meta := map[string]string{}
	for _, kv := range d.detail.Metadata {
		meta[kv.Key] = kv.Value
	}
	fields["metadata"] = mustJSON(meta)
	if !d.commented {
		for _, f := range []string{"comment_time", "comment_employee_id", "comment_employee_name", "comment_employee_account"} {
			fields[f] = json.RawMessage("null")
		}
	}
	return json.Marshal(fields)
}

func (s *Server) setAccepted(r *http.Request) (int, any) {
	var req struct {
		Comment  *string `json:"comment"`
		Accepted *bool   `json:"accepted"`
	}
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	m.need(req.Comment != nil, "comment")
	m.need(req.Accepted != nil, "accepted")
	if len(m) > 0 {
		return m.answer()
	}
	return s.changeTask(r, func(t *task, now kryptogo.Timestamp) (int, any, effects) {
		return t.decide(*req.Comment, *req.Accepted, now)
	})
}

// decide accepts or rejects the task, once, logging the comment.
func (t *task) decide(comment string, accepted bool, now kryptogo.Timestamp) (int, any, effects) {
	d := &t.detail
	if d.AuditStatus != kryptogo.AuditUndecided {
		status, body := apiError(http.StatusConflict, "task %d is already accepted or rejected", d.TaskID)
		return status, body, effects{}
	}
	d.AuditStatus = kryptogo.AuditRejected
	if accepted {
		d.AuditStatus = kryptogo.AuditAccepted
	}
	d.Comment, d.AuditTime, d.CommentTime, d.UpdateTime = comment, now, now, now
	d.AuditorEmployeeID, d.AuditorEmployeeName, d.AuditorEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	d.CommentEmployeeID, d.CommentEmployeeName, d.CommentEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	t.commentLogs = append(t.commentLogs, commentLog{Comment: comment, Accepted: accepted, CommentTime: now})
	answer := map[string]any{"task_id": d.TaskID, "comment": comment, "accepted": accepted}
	return http.StatusOK, answer, t.callbackEffects()
}

func (s *Server) setMetadata(r *http.Request) (int, any) {
	var pairs []kryptogo.Metadata
	if err := decode(r, &pairs); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	return s.changeTask(r, func(t *task, now kryptogo.Timestamp) (int, any, effects) {
		// The reference: "key-value pair object array to append". A key
		// sent again adds a pair; it does not replace the first.
		t.detail.Metadata = append(t.detail.Metadata, pairs...)
		t.detail.UpdateTime = now
		return http.StatusOK, map[string]int{"code": 0}, effects{}
	})
}

func (s *Server) history(r *http.Request) (int, any) {
	q := r.URL.Query()
	size, sizeErr := strconv.Atoi(q.Get("page_size"))
	page, pageErr := strconv.Atoi(q.Get("page_number"))
	var m missing
	m.need(sizeErr == nil && size > 0, "page_size")
	m.need(pageErr == nil && page > 0, "page_number")
	if len(m) > 0 {
		return m.answer()
	}
	return s.view(func(st *store) (int, any) { return st.history(q.Get("customer_reference"), page, size) })
}

// history pages the tasks of a customer (all with ref ""), newest first.
func (st *store) history(ref string, page, size int) (int, any) {
	var matched []*task
	for _, t := range st.tasks {
		if ref == "" || t.detail.CustomerReference == ref {
			matched = append(matched, t)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].detail.TaskID > matched[j].detail.TaskID })
	data := []*kryptogo.TaskSummary{}
	for i := (page - 1) * size; i < len(matched) && i < page*size; i++ {
		data = append(data, matched[i].summary())
	}
	return http.StatusOK, map[string]any{
		"data":   data,
		"paging": map[string]int{"page_number": page, "page_size": size, "total": len(matched)},
	}
}
