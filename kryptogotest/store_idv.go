package kryptogotest

import (
	"crypto/rand"
	"encoding/hex"
	"slices"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// idvTask is an IDV task as the fake holds it, with what the API keeps
// private: where to call back and whether to create a DD task.
type idvTask struct {
	task              kryptogo.IDVTask
	callbackURL       string
	ddCallbackURL     string
	autoCreateDDTask  bool
	ddSearchSettingID kryptogo.ID
	successURL        string
}

// shown returns a copy of the task sharing no slice with the store.
func (v *idvTask) shown() kryptogo.IDVTask {
	t := v.task
	t.ReviewReasons = slices.Clone(t.ReviewReasons)
	t.RejectReasons = slices.Clone(t.RejectReasons)
	t.DDTasks = slices.Clone(t.DDTasks)
	return t
}

// idvSpec is what the store keeps of a request that creates an IDV task.
type idvSpec struct {
	country, idType                              string
	expectedName, expectedBirthday, expectedIDNo string
	expectedIssuingDate, expectedExpiryDate      string
	expectedGender                               string
	customerReference                            string
	callbackURL, successURL                      string
	autoCreateDDTask                             bool
	ddSearchSettingID                            kryptogo.ID
	ddCallbackURL                                string
}

// idvTask returns the IDV task of the id.
func (st *store) idvTask(id kryptogo.ID) (*idvTask, error) {
	v, ok := st.idv[id]
	if !ok {
		return nil, refuse(errNotFound, "IDV task %d not found", id)
	}
	return v, nil
}

// addIDV stores a new IDV task in the given state and returns its id.
func (st *store) addIDV(spec idvSpec, state kryptogo.IDVState) kryptogo.ID {
	id := st.nextIDV
	st.nextIDV++
	st.idv[id] = &idvTask{
		task: kryptogo.IDVTask{
			IDVTaskID: id, Country: spec.country, IDType: kryptogo.IDType(spec.idType),
			ExpectedName: spec.expectedName, ExpectedBirthday: spec.expectedBirthday, ExpectedIDNumber: spec.expectedIDNo,
			ExpectedCountry: spec.country, ExpectedIssuingDate: spec.expectedIssuingDate, ExpectedExpiryDate: spec.expectedExpiryDate,
			ExpectedGender: kryptogo.Gender(spec.expectedGender), CustomerReference: spec.customerReference,
			State: state, ReviewReasons: []kryptogo.Reason{}, RejectReasons: []kryptogo.Reason{},
			AuditStatus: kryptogo.IDVAuditPending, DDTasks: []kryptogo.IDVDDTask{},
		},
		callbackURL: spec.callbackURL, ddCallbackURL: spec.ddCallbackURL,
		autoCreateDDTask: spec.autoCreateDDTask, ddSearchSettingID: spec.ddSearchSettingID,
		successURL: spec.successURL,
	}
	return id
}

// addWebSession stores a new IDV task waiting for its customer, reached by
// a link with the token, and returns its id.
func (st *store) addWebSession(spec idvSpec, token string) kryptogo.ID {
	id := st.addIDV(spec, kryptogo.IDVInitial)
	st.webTokens[token] = id
	return id
}

// finishIDV completes an IDV task, creating its DD task in the same change
// when the outcome is accept and one was asked for.
func (st *store) finishIDV(id kryptogo.ID, outcome IDVOutcome, now kryptogo.Timestamp) (effects, error) {
	v, ok := st.idv[id]
	switch {
	case !ok:
		return effects{}, refuse(errNotFound, "kryptogotest: no IDV task %d", id)
	case v.task.State.Done():
		return effects{}, refuse(errConflict, "kryptogotest: IDV task %d is already %s", id, v.task.State)
	}
	t := &v.task
	t.State = outcome.State
	t.ReviewReasons = append([]kryptogo.Reason{}, outcome.ReviewReasons...)
	t.RejectReasons = append([]kryptogo.Reason{}, outcome.RejectReasons...)
	t.AuditStatus = auditStatusOf(outcome.State)
	t.AuditTimestamp, t.AuditorEmployeeAccount = now, "kryptogotest"
	recognize(t)
	var fx effects
	if v.autoCreateDDTask && outcome.State == kryptogo.IDVAccept {
		fx.newTasks = append(fx.newTasks, st.createDDFromIDV(v, now))
	}
	if v.callbackURL != "" {
		body := v.shown()
		fx.callbacks = append(fx.callbacks, callback{url: v.callbackURL, kind: kryptogo.CallbackIDV, payload: &body})
	}
	return fx, nil
}

func auditStatusOf(state kryptogo.IDVState) kryptogo.IDVAuditStatus {
	switch state {
	case kryptogo.IDVAccept:
		return kryptogo.IDVAuditAccepted
	case kryptogo.IDVReject:
		return kryptogo.IDVAuditRejected
	}
	return kryptogo.IDVAuditPending
}

// recognize fills what the document "says": the fake reads back what was
// expected, or placeholders.
func recognize(t *kryptogo.IDVTask) {
	t.FullName = orDefault(t.ExpectedName, "TEST PERSON")
	t.FirstName, t.LastName = t.FullName, ""
	t.Birthday = orDefault(t.ExpectedBirthday, "1990-01-01")
	t.IDNumber = orDefault(t.ExpectedIDNumber, "X000000000")
	t.IssuingDate = orDefault(t.ExpectedIssuingDate, "2020-01-01")
	t.ExpiryDate = orDefault(t.ExpectedExpiryDate, "2030-01-01")
	t.Gender = kryptogo.Gender(orDefault(string(t.ExpectedGender), "X"))
	t.IDSubType = map[kryptogo.IDType]kryptogo.IDSubType{
		kryptogo.IDTypeIDCard: kryptogo.IDSubTypeNationalID, kryptogo.IDTypePassport: kryptogo.IDSubTypeEPassport,
		kryptogo.IDTypeDrivingLicense: kryptogo.IDSubTypeRegularDrivingLicense,
	}[t.IDType]
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// forcedOnTask returns req with what the reference says the API copies from
// the IDV task into a task created with from_idv_id: target.birthday (what
// the document said once the task finished, else the expected birthday),
// target.citizenship (the IDV task's country), customer_reference and
// callback_url.
func (v *idvTask) forcedOnTask(req kryptogo.CreateTaskRequest) kryptogo.CreateTaskRequest {
	t := &v.task
	req.Target.Birthday = t.ExpectedBirthday
	if t.State.Done() {
		req.Target.Birthday = t.Birthday
	}
	req.Target.Citizenship = t.Country
	req.CustomerReference = t.CustomerReference
	req.CallbackURL = v.callbackURL
	return req
}

// followDecision records a DD task's decision in the IDV task's dd_tasks.
func (v *idvTask) followDecision(id kryptogo.ID, status kryptogo.AuditStatus) {
	for i := range v.task.DDTasks {
		if v.task.DDTasks[i].ID == id {
			v.task.DDTasks[i].AuditStatus = status
		}
	}
}

// createDDFromIDV creates the DD task an accepted IDV task asked for and
// returns its id.
func (st *store) createDDFromIDV(v *idvTask, now kryptogo.Timestamp) kryptogo.ID {
	t := &v.task
	target := kryptogo.KYCTarget(t.FullName, t.Birthday, t.Country)
	settingID := v.ddSearchSettingID
	id := st.addTask(kryptogo.CreateTaskRequest{SearchSettingID: settingID, Target: target, CallbackURL: v.ddCallbackURL,
		CustomerReference: t.CustomerReference, FromIDVID: t.IDVTaskID}, now)
	t.CreatedSearchTaskID = id
	t.DDTasks = append(t.DDTasks, kryptogo.IDVDDTask{ID: id, CreationTimestamp: now})
	return id
}

// openWebSession uses up a session link, moves its task to pending and
// returns the task's id and where to send the customer then.
func (st *store) openWebSession(token string) (kryptogo.ID, string, error) {
	id, ok := st.webTokens[token]
	if !ok {
		return 0, "", refuse(errNotFound, "this verification link is unknown or was already used")
	}
	delete(st.webTokens, token)
	v := st.idv[id]
	if v.task.State == kryptogo.IDVInitial {
		v.task.State = kryptogo.IDVPending
	}
	return id, v.successURL, nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
