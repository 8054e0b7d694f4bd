package kryptogotest

import (
	"fmt"
	"net/http"
	"sort"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// task is a DD task as the fake holds it.
type task struct {
	detail      kryptogo.TaskDetail // CommentLogs is filled from commentLogs when shown
	progress    int
	commentLogs []commentLog
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
