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
	detail   kryptogo.TaskDetail
	progress int
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

// SetTargetRisk sets the outcome of tasks on the named target that complete
// on their own; other targets complete with risk 0 and no sanction match.
func (s *Server) SetTargetRisk(targetName string, outcome TaskOutcome) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	s.state.risks[targetName] = outcome
}

// CompleteTask finishes a pending DD task with the given outcome and sends
// its callback. It fails for an unknown or already completed task.
func (s *Server) CompleteTask(id kryptogo.ID, outcome TaskOutcome) error {
	return s.state.finishTask(id, outcome)
}

// Task returns a copy of a DD task as the fake holds it.
func (s *Server) Task(id kryptogo.ID) (*kryptogo.TaskDetail, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	t, ok := s.state.tasks[id]
	if !ok {
		return nil, false
	}
	d := t.detail
	return &d, true
}

// wireTask is one task of POST /task, with pointers to tell absent fields.
type wireTask struct {
	SearchSettingID   *kryptogo.ID           `json:"search_setting_id"`
	Target            *kryptogo.Target       `json:"target"`
	SearchSource      kryptogo.SearchSources `json:"search_source"`
	CallbackURL       string                 `json:"callback_url"`
	CustomerReference string                 `json:"customer_reference"`
	FromIDVID         kryptogo.ID            `json:"from_idv_id"`
}

func (w *wireTask) check(prefix string, m *missing) {
	m.need(w.SearchSettingID != nil && *w.SearchSettingID > 0, prefix+"search_setting_id")
	m.need(w.Target != nil && (w.Target.Type == kryptogo.TargetKYC || w.Target.Type == kryptogo.TargetKYB), prefix+"target.type")
	m.need(w.Target != nil && w.Target.Name != "", prefix+"target.name")
}

func (st *store) createTasks(r *http.Request) (int, any) {
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
	type receipt struct {
		TaskID    kryptogo.ID        `json:"task_id"`
		Timestamp kryptogo.Timestamp `json:"timestamp"`
	}
	receipts := make([]receipt, len(reqs))
	for i, req := range reqs {
		id := st.addTask(req)
		receipts[i] = receipt{TaskID: id, Timestamp: st.stamp()}
		st.scheduleTask(id)
	}
	return http.StatusOK, receipts
}

// scheduleTask completes a new task per the completion mode, with the risk
// set for its target.
func (st *store) scheduleTask(id kryptogo.ID) {
	st.schedule(func() {
		st.mu.Lock()
		outcome := st.risks[st.tasks[id].detail.Target.Name]
		st.mu.Unlock()
		_ = st.finishTask(id, outcome)
	})
}

// addTask stores a new pending task and returns its id.
func (st *store) addTask(req wireTask) kryptogo.ID {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.nextTask
	st.nextTask++
	sources := req.SearchSource
	if len(sources) == 0 {
		sources = append(kryptogo.SearchSources{}, kryptogo.AllSearchSources...)
	}
	now := st.stamp()
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

func (st *store) finishTask(id kryptogo.ID, outcome TaskOutcome) error {
	st.mu.Lock()
	t, ok := st.tasks[id]
	switch {
	case !ok:
		st.mu.Unlock()
		return fmt.Errorf("kryptogotest: no task %d", id)
	case t.completed():
		st.mu.Unlock()
		return fmt.Errorf("kryptogotest: task %d is already completed", id)
	}
	now := st.stamp()
	t.progress = 100
	t.detail.PotentialRisk, t.detail.SanctionMatched = outcome.PotentialRisk, outcome.SanctionMatched
	t.detail.CompletedSource = len(t.detail.SearchSource)
	t.detail.CompletedTime, t.detail.UpdateTime = now, now
	t.detail.Result = mustJSON(map[string]any{"source": "kryptogotest"})
	url, summary := t.detail.CallbackURL, t.summary()
	st.mu.Unlock()
	st.srv.callbacks.send(url, kryptogo.CallbackTask, summary)
	return nil
}

// lookupTask finds the task of the {id} path parameter.
func (st *store) lookupTask(r *http.Request) (*task, bool) {
	id, ok := pathID(r)
	t, found := st.tasks[id]
	return t, ok && found
}

func (st *store) taskSummary(r *http.Request) (int, any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.lookupTask(r)
	if !ok {
		return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
	}
	return http.StatusOK, t.summary()
}

func (st *store) taskDetail(r *http.Request) (int, any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.lookupTask(r)
	if !ok {
		return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
	}
	d := t.detail
	d.Metadata = append(kryptogo.MetadataList{}, d.Metadata...)
	return http.StatusOK, detailWire{&d}
}

// detailWire encodes metadata as an object, as the detail endpoint does
// (the summary sends an array).
type detailWire struct{ detail *kryptogo.TaskDetail }

// MarshalJSON encodes the detail with its metadata as an object.
func (d detailWire) MarshalJSON() ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mustJSON(d.detail), &fields); err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for _, kv := range d.detail.Metadata {
		meta[kv.Key] = kv.Value
	}
	fields["metadata"] = mustJSON(meta)
	return json.Marshal(fields)
}

func (st *store) setAccepted(r *http.Request) (int, any) {
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
	st.mu.Lock()
	t, ok := st.lookupTask(r)
	if !ok {
		st.mu.Unlock()
		return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
	}
	if t.detail.AuditStatus != kryptogo.AuditUndecided {
		st.mu.Unlock()
		return apiError(http.StatusConflict, "task %d is already accepted or rejected", t.detail.TaskID)
	}
	now := st.stamp()
	t.detail.AuditStatus = kryptogo.AuditRejected
	if *req.Accepted {
		t.detail.AuditStatus = kryptogo.AuditAccepted
	}
	t.detail.Comment, t.detail.AuditTime, t.detail.CommentTime, t.detail.UpdateTime = *req.Comment, now, now, now
	t.detail.AuditorEmployeeID, t.detail.AuditorEmployeeName, t.detail.AuditorEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	t.detail.CommentEmployeeID, t.detail.CommentEmployeeName, t.detail.CommentEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	id, url, summary := t.detail.TaskID, t.detail.CallbackURL, t.summary()
	st.mu.Unlock()
	st.srv.callbacks.send(url, kryptogo.CallbackTask, summary)
	return http.StatusOK, map[string]any{"task_id": id, "comment": *req.Comment, "accepted": *req.Accepted}
}

func (st *store) setMetadata(r *http.Request) (int, any) {
	var pairs []kryptogo.Metadata
	if err := decode(r, &pairs); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.lookupTask(r)
	if !ok {
		return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
	}
	for _, kv := range pairs {
		t.setMetadata(kv)
	}
	t.detail.UpdateTime = st.stamp()
	return http.StatusOK, map[string]int{"code": 0}
}

// setMetadata replaces the value of an existing key or appends the pair.
func (t *task) setMetadata(kv kryptogo.Metadata) {
	for i := range t.detail.Metadata {
		if t.detail.Metadata[i].Key == kv.Key {
			t.detail.Metadata[i].Value = kv.Value
			return
		}
	}
	t.detail.Metadata = append(t.detail.Metadata, kv)
}

func (st *store) history(r *http.Request) (int, any) {
	q := r.URL.Query()
	size, sizeErr := strconv.Atoi(q.Get("page_size"))
	page, pageErr := strconv.Atoi(q.Get("page_number"))
	var m missing
	m.need(sizeErr == nil && size > 0, "page_size")
	m.need(pageErr == nil && page > 0, "page_number")
	if len(m) > 0 {
		return m.answer()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var matched []*task
	for _, t := range st.tasks {
		if ref := q.Get("customer_reference"); ref == "" || t.detail.CustomerReference == ref {
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
