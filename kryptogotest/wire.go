package kryptogotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// InventedKey marks what the fake invents. The reference gives no shape to
// KYA sdnlist and txlist entries, a task detail's result and comment_logs
// entries, or the history's paging: the fake answers plausible objects
// there, and each such object holds InventedKey set to true, so a test that
// reads one knows it reads the fake's invention, not the API's shape.
const InventedKey = "kryptogotest_invented"

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Code: status, Message: msg})
}

// encode turns an answer into its JSON, so that it is taken while the
// store cannot change.
func encode(body any) (json.RawMessage, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, errors.New("kryptogotest: encode answer")
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":500,"message":"kryptogotest: encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// pathID reads the {id} path parameter; an id that is not a positive
// integer reads as 0, which names nothing.
func pathID(r *http.Request) kryptogo.ID {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return kryptogo.ID(n)
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return refuse(errInvalid, "the body is not valid JSON: %v", err)
	}
	return nil
}

// wireIDV holds the fields of POST /idv, /idv/init and /idv/account.
type wireIDV struct {
	Country               string  `json:"country"`
	IDType                string  `json:"id_type"`
	WorkflowID            wireInt `json:"workflow_id"`
	IDImage               string  `json:"id_image"`
	IDMimeType            string  `json:"id_mime_type"`
	IDBackImage           string  `json:"id_back_image"`
	IDBackMimeType        string  `json:"id_back_mime_type"`
	FaceImage             string  `json:"face_image"`
	FaceMimeType          string  `json:"face_mime_type"`
	IDAndFaceImage        string  `json:"id_and_face_image"`
	IDAndFaceMimeType     string  `json:"id_and_face_mime_type"`
	ExpectedName          string  `json:"expected_name"`
	ExpectedBirthday      string  `json:"expected_birthday"`
	ExpectedIDNumber      string  `json:"expected_id_number"`
	ExpectedIssuingDate   string  `json:"expected_issuing_date"`
	ExpectedExpiryDate    string  `json:"expected_expiry_date"`
	ExpectedGender        string  `json:"expected_gender"`
	CustomerReference     string  `json:"customer_reference"`
	CallbackURL           string  `json:"callback_url"`
	Locale                string  `json:"locale"`
	SuccessURL            string  `json:"success_url"`
	ErrorURL              string  `json:"error_url"`
	AutoCreateDDTask      bool    `json:"auto_create_dd_task"`
	DDTaskSearchSettingID wireInt `json:"dd_task_search_setting_id"`
	DDTaskCallbackURL     string  `json:"dd_task_callback_url"`
	TWIDApplyCode         wireInt `json:"tw_id_apply_code"`
	TWIDApplyDate         string  `json:"tw_id_apply_date"`
	TWIDIssueSiteID       string  `json:"tw_id_issue_site_id"`
}

// kyaWire encodes a KYA result as the API does: customer_reference is null,
// as in the reference's samples (a KYA request cannot set one).
type kyaWire struct{ res *kryptogo.KYAResult }

// MarshalJSON encodes the result with a null customer_reference.
func (k kyaWire) MarshalJSON() ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mustJSON(k.res), &fields); err != nil {
		return nil, err
	}
	fields["customer_reference"] = json.RawMessage("null")
	return json.Marshal(fields)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kryptogotest: %v", err))
	}
	return b
}

// commentLog is one entry of a task detail's comment_logs. The reference
// shows the field but not its entries: this shape is invented, kept to what
// an accept or reject carries, and marked so.
type commentLog struct {
	Comment     string             `json:"comment"`
	Accepted    bool               `json:"accepted"`
	CommentTime kryptogo.Timestamp `json:"comment_time"`
	Invented    bool               `json:"kryptogotest_invented"`
}

func newCommentLog(comment string, accepted bool, now kryptogo.Timestamp) commentLog {
	return commentLog{Comment: comment, Accepted: accepted, CommentTime: now, Invented: true}
}

// inventedResult is a task detail's result, from creation on: the
// reference shows the field but not its content.
var inventedResult = json.RawMessage(`{"` + InventedKey + `":true}`)

// wireInt is an integer field as the reference types it: a JSON integer.
// A string or a number with a fraction or an exponent ("2", 2.0, 2e0), which
// a lenient decoder would take, is kept as not ok, so that the refusal
// names the field instead of failing the whole body.
type wireInt struct {
	set bool // present and not null
	ok  bool // a JSON integer
	n   int64
}

// UnmarshalJSON keeps the integer, or that the value is not one.
func (w *wireInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*w = wireInt{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	*w = wireInt{set: true, ok: err == nil, n: n}
	return nil
}

// positive reports whether the field is a JSON integer above 0.
func (w wireInt) positive() bool { return w.ok && w.n > 0 }

// absentOrPositive reports whether the field is absent, null, 0 (an id
// that names nothing, as from_idv_id is 0 in the reference's sample), or a
// JSON integer above 0.
func (w wireInt) absentOrPositive() bool { return !w.set || (w.ok && w.n >= 0) }

// wireTask is one task of POST /task, with pointers to tell absent fields.
type wireTask struct {
	SearchSettingID   wireInt                 `json:"search_setting_id"`
	Target            *kryptogo.Target        `json:"target"`
	SearchSource      *kryptogo.SearchSources `json:"search_source"`
	CallbackURL       string                  `json:"callback_url"`
	CustomerReference string                  `json:"customer_reference"`
	FromIDVID         wireInt                 `json:"from_idv_id"`
}

// taskReceipt is one entry of the answer of POST /task.
type taskReceipt struct {
	TaskID    kryptogo.ID        `json:"task_id"`
	Timestamp kryptogo.Timestamp `json:"timestamp"`
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

// request is the checked task as the store takes it.
func (w *wireTask) request() kryptogo.CreateTaskRequest {
	req := kryptogo.CreateTaskRequest{SearchSettingID: kryptogo.ID(w.SearchSettingID.n), Target: *w.Target,
		CallbackURL: w.CallbackURL, CustomerReference: w.CustomerReference, FromIDVID: kryptogo.ID(w.FromIDVID.n)}
	if w.SearchSource != nil {
		req.SearchSource = *w.SearchSource
	}
	return req
}

// spec is what the store keeps of the checked request, for a document of
// idType.
func (w *wireIDV) spec(idType string) idvSpec {
	return idvSpec{
		country: w.Country, idType: idType,
		expectedName: w.ExpectedName, expectedBirthday: w.ExpectedBirthday, expectedIDNo: w.ExpectedIDNumber,
		expectedIssuingDate: w.ExpectedIssuingDate, expectedExpiryDate: w.ExpectedExpiryDate,
		expectedGender: w.ExpectedGender, customerReference: w.CustomerReference,
		callbackURL: w.CallbackURL, successURL: w.SuccessURL,
		autoCreateDDTask: w.AutoCreateDDTask, ddSearchSettingID: kryptogo.ID(w.DDTaskSearchSettingID.n), ddCallbackURL: w.DDTaskCallbackURL,
	}
}
