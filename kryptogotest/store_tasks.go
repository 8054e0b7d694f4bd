package kryptogotest

import (
	"sort"
	"strconv"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// task is a DD task as the fake holds it.
type task struct {
	detail      kryptogo.TaskDetail // CommentLogs is filled from commentLogs when shown
	progress    int
	commentLogs []commentLog
	listedFrom  time.Time // when GET /tasks starts listing it (WithHistoryLag); zero: at once
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
	// The report is an object from the start, as in the reference's
	// sample: zero risk and undecided until the task completes.
	s.Report = &kryptogo.TaskReport{
		SanctionMatched: d.SanctionMatched, PotentialRisk: d.PotentialRisk,
		URL: "https://app.kryptogo.com/compliance/audit/" + d.TaskID.String(), Comment: d.Comment,
	}
	if d.AuditStatus != kryptogo.AuditUndecided {
		accepted := d.AuditStatus == kryptogo.AuditAccepted
		s.Report.Accepted = &accepted
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

// task returns the task of the id.
func (st *store) task(id kryptogo.ID) (*task, error) {
	t, ok := st.tasks[id]
	if !ok {
		return nil, refuse(errNotFound, "task %d not found", id)
	}
	return t, nil
}

// createTasks stores a pending task per request and returns their ids, in
// the order of the requests. A request with from_idv_id takes the birthday,
// citizenship, customer reference and callback URL of that IDV task, as the
// reference says the API forces them, and is listed in its dd_tasks; an
// unknown IDV task refuses the whole batch.
func (st *store) createTasks(reqs []kryptogo.CreateTaskRequest, now kryptogo.Timestamp) ([]kryptogo.ID, effects, error) {
	var m missing
	for i, req := range reqs {
		_, known := st.idv[req.FromIDVID]
		m.need(req.FromIDVID == 0 || known, "["+strconv.Itoa(i)+"].from_idv_id")
	}
	if err := m.err(); err != nil {
		return nil, effects{}, err
	}
	var fx effects
	ids := make([]kryptogo.ID, len(reqs))
	for i, req := range reqs {
		if v := st.idv[req.FromIDVID]; v != nil {
			req = v.forcedOnTask(req)
		}
		ids[i] = st.addTask(req, now)
		if v := st.idv[req.FromIDVID]; v != nil {
			v.task.DDTasks = append(v.task.DDTasks, kryptogo.IDVDDTask{ID: ids[i], CreationTimestamp: now})
		}
		fx.newTasks = append(fx.newTasks, ids[i])
	}
	return ids, fx, nil
}

// addTask stores a new pending task and returns its id. An empty list of
// sources searches all five.
func (st *store) addTask(req kryptogo.CreateTaskRequest, now kryptogo.Timestamp) kryptogo.ID {
	id := st.nextTask
	st.nextTask++
	sources := append(kryptogo.SearchSources{}, req.SearchSource...)
	if len(sources) == 0 {
		sources = append(sources, kryptogo.AllSearchSources...)
	}
	st.tasks[id] = &task{detail: kryptogo.TaskDetail{
		TaskID: id, Target: req.Target, SearchSource: sources,
		SearchSetting: kryptogo.SearchSetting{Mode: kryptogo.SearchModePrecise, TimeRangeYear: -1, Language: "en",
			NegativeWords: []string{}, Sites: []string{}, NumberOfPages: 1},
		CallbackURL: req.CallbackURL, CustomerReference: req.CustomerReference,
		EmployeeID: 1, EmployeeName: "kryptogotest", EmployeeAccount: "kryptogotest@example.com",
		CreationTime: now, UpdateTime: now, FromIDVID: req.FromIDVID, Metadata: kryptogo.MetadataList{},
		Result: inventedResult,
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
		return effects{}, refuse(errNotFound, "kryptogotest: no task %d", id)
	case t.completed():
		return effects{}, refuse(errConflict, "kryptogotest: task %d is already completed", id)
	}
	t.progress = 100
	t.detail.PotentialRisk, t.detail.SanctionMatched = outcome.PotentialRisk, outcome.SanctionMatched
	t.detail.CompletedSource = len(t.detail.SearchSource)
	t.detail.CompletedTime, t.detail.UpdateTime = now, now
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
func (st *store) decide(id kryptogo.ID, comment string, accepted bool, now kryptogo.Timestamp) (effects, error) {
	t, err := st.task(id)
	if err != nil {
		return effects{}, err
	}
	d := &t.detail
	if d.AuditStatus != kryptogo.AuditUndecided {
		return effects{}, refuse(errConflict, "task %d is already accepted or rejected", d.TaskID)
	}
	d.AuditStatus = kryptogo.AuditRejected
	if accepted {
		d.AuditStatus = kryptogo.AuditAccepted
	}
	d.Comment, d.AuditTime, d.CommentTime, d.UpdateTime = comment, now, now, now
	d.AuditorEmployeeID, d.AuditorEmployeeName, d.AuditorEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	d.CommentEmployeeID, d.CommentEmployeeName, d.CommentEmployeeAccount = 1, "kryptogotest", "kryptogotest@example.com"
	t.commentLogs = append(t.commentLogs, newCommentLog(comment, accepted, now))
	if v := st.idv[d.FromIDVID]; v != nil {
		v.followDecision(d.TaskID, d.AuditStatus)
	}
	return t.callbackEffects(), nil
}

// appendMetadata appends pairs to the task's metadata. The reference:
// "key-value pair object array to append". A key sent again adds a pair;
// it does not replace the first.
func (st *store) appendMetadata(id kryptogo.ID, pairs []kryptogo.Metadata, now kryptogo.Timestamp) error {
	t, err := st.task(id)
	if err != nil {
		return err
	}
	t.detail.Metadata = append(t.detail.Metadata, pairs...)
	t.detail.UpdateTime = now
	return nil
}

// history returns a page of the tasks of a customer (all with ref "")
// listed at now, newest first, and how many tasks the customer has.
func (st *store) history(ref string, page, size int, now time.Time) ([]*kryptogo.TaskSummary, int) {
	var matched []*task
	for _, t := range st.tasks {
		if (ref == "" || t.detail.CustomerReference == ref) && !now.Before(t.listedFrom) {
			matched = append(matched, t)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].detail.TaskID > matched[j].detail.TaskID })
	data := []*kryptogo.TaskSummary{}
	for i := (page - 1) * size; i < len(matched) && i < page*size; i++ {
		data = append(data, matched[i].summary())
	}
	return data, len(matched)
}
