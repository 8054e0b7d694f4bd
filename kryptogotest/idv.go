package kryptogotest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// IDVOutcome is the result an IDV task completes with.
type IDVOutcome struct {
	State         kryptogo.IDVState // IDVAccept, IDVReview or IDVReject
	ReviewReasons []kryptogo.Reason
	RejectReasons []kryptogo.Reason
}

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

// wireIDV holds the fields of POST /idv, /idv/init and /idv/account, with
// pointers where the API tells absent from zero.
type wireIDV struct {
	Country               string      `json:"country"`
	IDType                string      `json:"id_type"`
	WorkflowID            *int        `json:"workflow_id"`
	IDImage               string      `json:"id_image"`
	IDBackImage           string      `json:"id_back_image"`
	FaceImage             string      `json:"face_image"`
	IDAndFaceImage        string      `json:"id_and_face_image"`
	ExpectedName          string      `json:"expected_name"`
	ExpectedBirthday      string      `json:"expected_birthday"`
	ExpectedIDNumber      string      `json:"expected_id_number"`
	ExpectedIssuingDate   string      `json:"expected_issuing_date"`
	ExpectedExpiryDate    string      `json:"expected_expiry_date"`
	ExpectedGender        string      `json:"expected_gender"`
	CustomerReference     string      `json:"customer_reference"`
	CallbackURL           string      `json:"callback_url"`
	SuccessURL            string      `json:"success_url"`
	AutoCreateDDTask      bool        `json:"auto_create_dd_task"`
	DDTaskCallbackURL     string      `json:"dd_task_callback_url"`
	DDTaskSearchSettingID kryptogo.ID `json:"dd_task_search_setting_id"`
}

func (w *wireIDV) checkCommon(m *missing) {
	m.need(w.Country != "", "country")
	m.need(!w.AutoCreateDDTask || w.DDTaskSearchSettingID > 0, "dd_task_search_setting_id")
}

// CompleteIDV finishes a pending or initial IDV task with the given outcome,
// creates its DD task when asked to and the outcome is accept, and sends
// its callback. It fails for an unknown or already finished task.
func (s *Server) CompleteIDV(id kryptogo.ID, outcome IDVOutcome) error {
	if !outcome.State.Done() {
		return fmt.Errorf("kryptogotest: %s is not a final IDV state", outcome.State)
	}
	return s.state.finishIDV(id, outcome)
}

// IDVTask returns a copy of an IDV task as the fake holds it.
func (s *Server) IDVTask(id kryptogo.ID) (*kryptogo.IDVTask, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	v, ok := s.state.idv[id]
	if !ok {
		return nil, false
	}
	t := v.task
	return &t, true
}

// addIDV stores a new IDV task in the given state and returns its id.
func (st *store) addIDV(req *wireIDV, idType string, state kryptogo.IDVState) kryptogo.ID {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.nextIDV
	st.nextIDV++
	st.idv[id] = &idvTask{
		task: kryptogo.IDVTask{
			IDVTaskID: id, Country: req.Country, IDType: kryptogo.IDType(idType),
			ExpectedName: req.ExpectedName, ExpectedBirthday: req.ExpectedBirthday, ExpectedIDNumber: req.ExpectedIDNumber,
			ExpectedCountry: req.Country, ExpectedIssuingDate: req.ExpectedIssuingDate, ExpectedExpiryDate: req.ExpectedExpiryDate,
			ExpectedGender: kryptogo.Gender(req.ExpectedGender), CustomerReference: req.CustomerReference,
			State: state, ReviewReasons: []kryptogo.Reason{}, RejectReasons: []kryptogo.Reason{},
			AuditStatus: kryptogo.IDVAuditPending, DDTasks: []kryptogo.IDVDDTask{},
		},
		callbackURL: req.CallbackURL, ddCallbackURL: req.DDTaskCallbackURL,
		autoCreateDDTask: req.AutoCreateDDTask, ddSearchSettingID: req.DDTaskSearchSettingID,
		successURL: req.SuccessURL,
	}
	return id
}

// scheduleIDV completes an IDV task per the completion mode.
func (st *store) scheduleIDV(id kryptogo.ID) {
	st.schedule(func() { _ = st.finishIDV(id, st.cfg.idvOutcome) })
}

func (st *store) finishIDV(id kryptogo.ID, outcome IDVOutcome) error {
	st.mu.Lock()
	v, ok := st.idv[id]
	switch {
	case !ok:
		st.mu.Unlock()
		return fmt.Errorf("kryptogotest: no IDV task %d", id)
	case v.task.State.Done():
		st.mu.Unlock()
		return fmt.Errorf("kryptogotest: IDV task %d is already %s", id, v.task.State)
	}
	t := &v.task
	t.State = outcome.State
	t.ReviewReasons = append([]kryptogo.Reason{}, outcome.ReviewReasons...)
	t.RejectReasons = append([]kryptogo.Reason{}, outcome.RejectReasons...)
	t.AuditStatus = map[kryptogo.IDVState]kryptogo.IDVAuditStatus{
		kryptogo.IDVAccept: kryptogo.IDVAuditAccepted, kryptogo.IDVReject: kryptogo.IDVAuditRejected,
	}[outcome.State]
	if t.AuditStatus == "" {
		t.AuditStatus = kryptogo.IDVAuditPending
	}
	t.AuditTimestamp, t.AuditorEmployeeAccount = st.stamp(), "kryptogotest"
	recognize(t)
	createDD := v.autoCreateDDTask && outcome.State == kryptogo.IDVAccept
	st.mu.Unlock()

	if createDD {
		st.createDDFromIDV(v)
	}
	st.mu.Lock()
	url, body := v.callbackURL, v.task
	st.mu.Unlock()
	st.srv.callbacks.send(url, kryptogo.CallbackIDV, &body)
	return nil
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

// createDDFromIDV creates the DD task an accepted IDV task asked for.
func (st *store) createDDFromIDV(v *idvTask) {
	st.mu.Lock()
	t := v.task
	st.mu.Unlock()
	target := kryptogo.KYCTarget(t.FullName, t.Birthday, t.Country)
	settingID := v.ddSearchSettingID
	id := st.addTask(wireTask{SearchSettingID: &settingID, Target: &target, CallbackURL: v.ddCallbackURL,
		CustomerReference: t.CustomerReference, FromIDVID: t.IDVTaskID})
	st.mu.Lock()
	v.task.CreatedSearchTaskID = id
	v.task.DDTasks = append(v.task.DDTasks, kryptogo.IDVDDTask{ID: id, CreationTimestamp: st.stamp()})
	st.mu.Unlock()
	st.scheduleTask(id)
}

func (st *store) createIDV(r *http.Request) (int, any) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	req.checkCommon(&m)
	m.need(knownIDType(req.IDType), "id_type")
	m.need(req.IDImage != "", "id_image")
	m.need(req.IDType != string(kryptogo.IDTypeIDCard) || req.IDBackImage != "", "id_back_image")
	m.need(req.FaceImage != "" || req.IDAndFaceImage != "", "face_image")
	if len(m) > 0 {
		return m.answer()
	}
	id := st.addIDV(&req, req.IDType, kryptogo.IDVPending)
	st.scheduleIDV(id)
	return http.StatusOK, map[string]any{"idv_task_id": id, "timestamp": st.stamp()}
}

func knownIDType(t string) bool {
	switch kryptogo.IDType(t) {
	case kryptogo.IDTypePassport, kryptogo.IDTypeDrivingLicense, kryptogo.IDTypeIDCard:
		return true
	}
	return false
}

func (st *store) getIDV(r *http.Request) (int, any) {
	id, ok := pathID(r)
	st.mu.Lock()
	defer st.mu.Unlock()
	v, found := st.idv[id]
	if !ok || !found {
		return apiError(http.StatusNotFound, "IDV task %s not found", r.PathValue("id"))
	}
	return http.StatusOK, v.task
}

func (st *store) initWeb(r *http.Request) (int, any) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	req.checkCommon(&m)
	m.need(knownIDType(req.IDType), "id_type")
	m.need(req.WorkflowID != nil && kryptogo.Workflow(*req.WorkflowID) != kryptogo.WorkflowMobile && *req.WorkflowID >= 100, "workflow_id")
	m.need(req.CustomerReference != "", "customer_reference")
	if len(m) > 0 {
		return m.answer()
	}
	id := st.addIDV(&req, req.IDType, kryptogo.IDVInitial)
	token := newToken()
	st.mu.Lock()
	st.webTokens[token] = id
	st.mu.Unlock()
	body := map[string]any{"idv_task_id": id, "url": st.srv.URL + "/idv/web/" + token, "timestamp": st.stamp()}
	if st.srv.initRFC3339() {
		body["timestamp"] = st.now().Format("2006-01-02T15:04:05Z07:00")
	}
	return http.StatusOK, body
}

func (s *Server) initRFC3339() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rfc3339
}

func (st *store) initMobile(r *http.Request) (int, any) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	req.checkCommon(&m)
	m.need(req.WorkflowID != nil && kryptogo.Workflow(*req.WorkflowID) == kryptogo.WorkflowMobile, "workflow_id")
	if len(m) > 0 {
		return m.answer()
	}
	// The mobile SDK's upload has no stand-in: the task starts pending.
	id := st.addIDV(&req, string(kryptogo.IDTypeIDCard), kryptogo.IDVPending)
	st.scheduleIDV(id)
	return http.StatusOK, map[string]any{"idv_task_id": id, "sdk_token": "kryptogotest-sdk-token-" + newToken(), "timestamp": st.stamp()}
}

// openWebSession stands in for the customer's upload on the web page: the
// task moves from initial to pending and completes per the completion mode.
func (st *store) openWebSession(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	id, ok := st.webTokens[r.PathValue("token")]
	var v *idvTask
	if ok {
		v = st.idv[id]
		delete(st.webTokens, r.PathValue("token"))
		if v.task.State == kryptogo.IDVInitial {
			v.task.State = kryptogo.IDVPending
		}
	}
	st.mu.Unlock()
	if !ok {
		http.Error(w, "this verification link is unknown or was already used", http.StatusNotFound)
		return
	}
	st.scheduleIDV(id)
	if v.successURL != "" {
		http.Redirect(w, r, v.successURL, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Verification submitted</title><p>IDV task %s: documents submitted (kryptogotest).</p>",
		html.EscapeString(id.String()))
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
