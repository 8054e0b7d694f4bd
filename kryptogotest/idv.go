package kryptogotest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"slices"

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

// shown returns a copy of the task sharing no slice with the store.
func (v *idvTask) shown() kryptogo.IDVTask {
	t := v.task
	t.ReviewReasons = slices.Clone(t.ReviewReasons)
	t.RejectReasons = slices.Clone(t.RejectReasons)
	t.DDTasks = slices.Clone(t.DDTasks)
	return t
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
	DDTaskSearchSettingID kryptogo.ID `json:"dd_task_search_setting_id"`
	DDTaskCallbackURL     string      `json:"dd_task_callback_url"`
}

func (w *wireIDV) checkCommon(m *missing) {
	m.need(w.Country != "", "country")
	m.need(!w.AutoCreateDDTask || w.DDTaskSearchSettingID > 0, "dd_task_search_setting_id")
}

// webWorkflows are the workflow ids POST /idv/init takes, as the reference
// lists them.
var webWorkflows = []kryptogo.Workflow{
	kryptogo.WorkflowIDOnly, kryptogo.WorkflowIDOnlyCamera, kryptogo.WorkflowIDOnlyUpload,
	kryptogo.WorkflowIDAndIdentity, kryptogo.WorkflowIDAndIdentityCamera, kryptogo.WorkflowIDAndIdentityUpload,
}

// CompleteIDV finishes a pending or initial IDV task with the given outcome,
// creates its DD task when asked to and the outcome is accept, and sends
// its callback. It fails for an unknown or already finished task.
func (s *Server) CompleteIDV(id kryptogo.ID, outcome IDVOutcome) error {
	if !outcome.State.Done() {
		return fmt.Errorf("kryptogotest: %s is not a final IDV state", outcome.State)
	}
	return s.complete(func(st *store, now kryptogo.Timestamp) (effects, error) {
		return st.finishIDV(id, outcome, now)
	})
}

// IDVTask returns a copy of an IDV task as the fake holds it.
func (s *Server) IDVTask(id kryptogo.ID) (*kryptogo.IDVTask, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.state.idv[id]
	if !ok {
		return nil, false
	}
	t := v.shown()
	return &t, true
}

// IDVTasks returns a copy of every IDV task created so far, oldest first,
// so a test finds the tasks the code under test created (by its customer
// reference, say) without guessing ids.
func (s *Server) IDVTasks() []kryptogo.IDVTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]kryptogo.IDVTask, 0, len(s.state.idv))
	for id := kryptogo.ID(1); id < s.state.nextIDV; id++ {
		if v, ok := s.state.idv[id]; ok {
			out = append(out, v.shown())
		}
	}
	return out
}

// addIDV stores a new IDV task in the given state and returns its id.
func (st *store) addIDV(req *wireIDV, idType string, state kryptogo.IDVState) kryptogo.ID {
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

// finishIDV completes an IDV task, creating its DD task in the same change
// when the outcome is accept and one was asked for.
func (st *store) finishIDV(id kryptogo.ID, outcome IDVOutcome, now kryptogo.Timestamp) (effects, error) {
	v, ok := st.idv[id]
	switch {
	case !ok:
		return effects{}, fmt.Errorf("kryptogotest: no IDV task %d", id)
	case v.task.State.Done():
		return effects{}, fmt.Errorf("kryptogotest: IDV task %d is already %s", id, v.task.State)
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

// createDDFromIDV creates the DD task an accepted IDV task asked for and
// returns its id.
func (st *store) createDDFromIDV(v *idvTask, now kryptogo.Timestamp) kryptogo.ID {
	t := &v.task
	target := kryptogo.KYCTarget(t.FullName, t.Birthday, t.Country)
	settingID := v.ddSearchSettingID
	id := st.addTask(wireTask{SearchSettingID: &settingID, Target: &target, CallbackURL: v.ddCallbackURL,
		CustomerReference: t.CustomerReference, FromIDVID: t.IDVTaskID}, now)
	t.CreatedSearchTaskID = id
	t.DDTasks = append(t.DDTasks, kryptogo.IDVDDTask{ID: id, CreationTimestamp: now})
	return id
}

// decodeIDV reads an IDV request and lists what it lacks; check adds the
// endpoint's own rules to the common ones.
func decodeIDV(r *http.Request, check func(*wireIDV, *missing)) (*wireIDV, int, any) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		status, body := apiError(http.StatusBadRequest, "%v", err)
		return nil, status, body
	}
	var m missing
	req.checkCommon(&m)
	check(&req, &m)
	if len(m) > 0 {
		status, body := m.answer()
		return nil, status, body
	}
	return &req, 0, nil
}

func (s *Server) createIDV(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(knownIDType(req.IDType), "id_type")
		m.need(req.IDImage != "", "id_image")
		m.need(req.IDType != string(kryptogo.IDTypeIDCard) || req.IDBackImage != "", "id_back_image")
		m.need(req.FaceImage != "" || req.IDAndFaceImage != "", "face_image")
	})
	if req == nil {
		return status, body
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		id := st.addIDV(req, req.IDType, kryptogo.IDVPending)
		return http.StatusOK, map[string]any{"idv_task_id": id, "timestamp": now}, effects{newIDV: []kryptogo.ID{id}}
	})
}

func knownIDType(t string) bool {
	switch kryptogo.IDType(t) {
	case kryptogo.IDTypePassport, kryptogo.IDTypeDrivingLicense, kryptogo.IDTypeIDCard:
		return true
	}
	return false
}

func (s *Server) getIDV(r *http.Request) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		v, ok := st.idv[id]
		if !ok {
			return apiError(http.StatusNotFound, "IDV task %s not found", r.PathValue("id"))
		}
		return http.StatusOK, v.shown()
	})
}

func (s *Server) initWeb(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(knownIDType(req.IDType), "id_type")
		m.need(req.WorkflowID != nil && slices.Contains(webWorkflows, kryptogo.Workflow(*req.WorkflowID)), "workflow_id")
		m.need(req.CustomerReference != "", "customer_reference")
	})
	if req == nil {
		return status, body
	}
	token := newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		id := st.addIDV(req, req.IDType, kryptogo.IDVInitial)
		st.webTokens[token] = id
		answer := map[string]any{"idv_task_id": id, "url": s.URL + "/idv/web/" + token, "timestamp": now}
		if s.rfc3339 { // guarded by s.mu, which change holds
			answer["timestamp"] = now.Format("2006-01-02T15:04:05Z07:00")
		}
		return http.StatusOK, answer, effects{} // completes when the URL is opened
	})
}

func (s *Server) initMobile(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(req.WorkflowID != nil && kryptogo.Workflow(*req.WorkflowID) == kryptogo.WorkflowMobile, "workflow_id")
	})
	if req == nil {
		return status, body
	}
	sdkToken := "kryptogotest-sdk-token-" + newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		// The mobile SDK's upload has no stand-in: the task starts pending.
		id := st.addIDV(req, string(kryptogo.IDTypeIDCard), kryptogo.IDVPending)
		answer := map[string]any{"idv_task_id": id, "sdk_token": sdkToken, "timestamp": now}
		return http.StatusOK, answer, effects{newIDV: []kryptogo.ID{id}}
	})
}

// openWebSession stands in for the customer's upload on the web page: the
// task moves from initial to pending and completes per the completion mode.
// A link works once.
func (s *Server) openWebSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	id, successURL, ok := s.state.openWebSession(r.PathValue("token"))
	s.mu.Unlock()
	if !ok {
		http.Error(w, "this verification link is unknown or was already used", http.StatusNotFound)
		return
	}
	s.carryOut(effects{newIDV: []kryptogo.ID{id}})
	if successURL != "" {
		http.Redirect(w, r, successURL, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Verification submitted</title><p>IDV task %s: documents submitted (kryptogotest).</p>",
		html.EscapeString(id.String()))
}

// openWebSession uses up a session link and moves its task to pending.
func (st *store) openWebSession(token string) (kryptogo.ID, string, bool) {
	id, ok := st.webTokens[token]
	if !ok {
		return 0, "", false
	}
	delete(st.webTokens, token)
	v := st.idv[id]
	if v.task.State == kryptogo.IDVInitial {
		v.task.State = kryptogo.IDVPending
	}
	return id, v.successURL, true
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
