package kryptogotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	kryptogo "github.com/kyabc/kryptogo-go"
)

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
// an accept or reject carries.
type commentLog struct {
	Comment     string             `json:"comment"`
	Accepted    bool               `json:"accepted"`
	CommentTime kryptogo.Timestamp `json:"comment_time"`
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
	req := kryptogo.CreateTaskRequest{SearchSettingID: *w.SearchSettingID, Target: *w.Target,
		CallbackURL: w.CallbackURL, CustomerReference: w.CustomerReference, FromIDVID: w.FromIDVID}
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
		autoCreateDDTask: w.AutoCreateDDTask, ddSearchSettingID: w.DDTaskSearchSettingID, ddCallbackURL: w.DDTaskCallbackURL,
	}
}
