package kryptogo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"

	"github.com/kyabc/kryptogo-go/internal/check"
	"github.com/kyabc/kryptogo-go/internal/streambody"
)

// IDVService verifies identity documents: uploaded (Create), or taken by your
// customer in a web page (InitWeb) or mobile SDK session (InitMobile).
type IDVService service

// CreateIDVRequest uploads document images; it prints as its document type.
type CreateIDVRequest struct {
	Country               string `json:"country"`                     // required: the issuer, ISO 3166-1 alpha-3 ("TWN")
	IDType                IDType `json:"id_type"`                     // required
	IDImage               *Image `json:"-"`                           // required: the document's front
	IDBackImage           *Image `json:"-"`                           // its back: required for ID_CARD
	FaceImage             *Image `json:"-"`                           // a selfie: this or IDAndFaceImage is required
	IDAndFaceImage        *Image `json:"-"`                           // the person holding the document
	ExpectedName          string `json:"expected_name,omitempty"`     // with the Expected... below: a mismatch makes the state review
	ExpectedBirthday      string `json:"expected_birthday,omitempty"` // YYYY-MM-DD
	ExpectedIDNumber      string `json:"expected_id_number,omitempty"`
	ExpectedIssuingDate   string `json:"expected_issuing_date,omitempty"` // YYYY-MM-DD
	ExpectedExpiryDate    string `json:"expected_expiry_date,omitempty"`  // YYYY-MM-DD
	ExpectedGender        Gender `json:"expected_gender,omitempty"`       // M, F or X
	CallbackURL           string `json:"callback_url,omitempty"`          // gets the IDV task on completion
	CustomerReference     string `json:"customer_reference,omitempty"`
	AutoCreateDDTask      bool   `json:"auto_create_dd_task,omitempty"`       // a DD task when the state is accept
	DDTaskCallbackURL     string `json:"dd_task_callback_url,omitempty"`      // that DD task's callback URL
	DDTaskSearchSettingID ID     `json:"dd_task_search_setting_id,omitempty"` // required with AutoCreateDDTask
	IdempotencyKey        string `json:"-"`                                   // at most once per key (package doc)
}

func (r CreateIDVRequest) view() redactedView {
	return view("CreateIDVRequest", slog.String("id_type", string(r.IDType)))
}

// Format prints the redacted form for every verb.
func (r CreateIDVRequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
func (r CreateIDVRequest) LogValue() slog.Value { return r.view().logValue() }

// idvImageField names an image's JSON fields.
type idvImageField struct {
	name, mimeName string
	img            *Image
}

func (r *CreateIDVRequest) images() []idvImageField {
	return []idvImageField{
		{"id_image", "id_mime_type", r.IDImage},
		{"id_back_image", "id_back_mime_type", r.IDBackImage},
		{"face_image", "face_mime_type", r.FaceImage},
		{"id_and_face_image", "id_and_face_mime_type", r.IDAndFaceImage},
	}
}

// validateFields checks the fields other than the images, which body
// checks as it sizes them.
func (r *CreateIDVRequest) validateFields(v *validator) {
	if v.required("country", r.Country) {
		v.add("country", check.Alpha3(r.Country))
	}
	validateIDType(v, r.IDType)
	if r.IDImage == nil {
		v.add("id_image", "is required")
	}
	if r.IDType == IDTypeIDCard && r.IDBackImage == nil {
		v.add("id_back_image", "is required when id_type is ID_CARD")
	}
	if r.FaceImage == nil && r.IDAndFaceImage == nil {
		v.add("face_image", "face_image or id_and_face_image is required")
	}
	v.optional("expected_birthday", r.ExpectedBirthday, check.Date)
	if r.ExpectedGender != "" && !r.ExpectedGender.known() {
		v.add("expected_gender", "must be M, F or X")
	}
	v.optional("callback_url", r.CallbackURL, check.HTTPURL)
	validateDDTask(v, r.AutoCreateDDTask, r.DDTaskCallbackURL, r.DDTaskSearchSettingID)
	validateCallbackReferences(v, r.CustomerReference, r.CallbackURL, r.DDTaskCallbackURL)
	validateIdempotencyKey(v, r.IdempotencyKey)
}

// personalValues returns the expected_* values compared with the document.
func (r CreateIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.ExpectedIssuingDate, r.ExpectedExpiryDate)
}

// prepareImages checks each image given, recording broken rules in v, and
// returns them in the order of images(), nil where there is none.
func (r *CreateIDVRequest) prepareImages(v *validator) []*preparedImage {
	var prepared []*preparedImage
	for _, f := range r.images() {
		var p *preparedImage
		if f.img != nil {
			p = f.img.prepare(v, f.name, f.mimeName)
		}
		prepared = append(prepared, p)
	}
	return prepared
}

// prepare validates the request and its images. Each image is checked
// (type, size, pixels) once, as it is sized: checking a base64 image
// decodes all of it, and a file checked twice may change between the
// checks. The rules the fields and the images break are reported
// together.
func (r *CreateIDVRequest) prepare() ([]*preparedImage, error) {
	var v validator
	if r == nil {
		v.add("request", "is required")
		return nil, v.err()
	}
	r.validateFields(&v)
	prepared := r.prepareImages(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return prepared, nil
}

// body validates the request and builds its streamed body.
func (r *CreateIDVRequest) body() (*requestBody, error) {
	prepared, err := r.prepare()
	if err != nil {
		return nil, err
	}
	return r.stream(prepared)
}

// fingerprint is the fingerprint of the request under its key: the JSON
// of its plain fields and each image's type and bytes, read as the body
// streams them (an image is hashed, never held).
func (r *CreateIDVRequest) fingerprint(c *Client, op string, prepared []*preparedImage) (string, error) {
	type plain CreateIDVRequest
	head, err := marshalBody((*plain)(r))
	if err != nil {
		return "", err
	}
	return c.fingerprint(op, func(h hash.Hash) error {
		writePart(h, head)
		for i, f := range r.images() {
			if p := prepared[i]; p != nil {
				writePart(h, []byte(f.name+"\x00"+p.mime))
				if err := hashImage(h, p); err != nil {
					return fmt.Errorf("kryptogo: %s: %s: %w", op, f.name, err)
				}
			}
		}
		return nil
	})
}

// hashImage writes the image's bytes to h, prefixed with their count.
func hashImage(h hash.Hash, p *preparedImage) error {
	rc, err := p.img.open()
	if err != nil {
		return fmt.Errorf("cannot read image: %w", err)
	}
	defer rc.Close()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(p.size)))
	if _, err := io.Copy(h, rc); err != nil {
		return fmt.Errorf("cannot read image: %w", err)
	}
	return nil
}

// stream lays out the body: the JSON of the plain fields, then each image
// as a base64 string streamed from its source, with its mime type.
func (r *CreateIDVRequest) stream(prepared []*preparedImage) (*requestBody, error) {
	type plain CreateIDVRequest
	head, err := json.Marshal((*plain)(r))
	if err != nil {
		return nil, fmt.Errorf("kryptogo: encode request: %w", err)
	}
	var b streambody.Body
	b.Literal(head[:len(head)-1]) // without the closing brace
	for i, f := range r.images() {
		p := prepared[i]
		if p == nil {
			continue
		}
		b.Literal([]byte(`,"` + f.name + `":"`))
		b.Base64(p.size, p.img.open)
		b.Literal([]byte(`","` + f.mimeName + `":"` + p.mime + `"`))
	}
	b.Literal([]byte("}"))
	return &requestBody{open: b.Open, length: b.Len(), personal: r.personalValues()}, nil
}

func validateIDType(v *validator, t IDType) {
	switch {
	case t == "":
		v.add("id_type", "is required")
	case !t.known():
		v.add("id_type", "must be PASSPORT, DRIVING_LICENSE or ID_CARD")
	}
}

func validateDDTask(v *validator, autoCreate bool, callbackURL string, settingID ID) {
	v.optional("dd_task_callback_url", callbackURL, check.HTTPURL)
	if autoCreate && settingID <= 0 {
		v.add("dd_task_search_setting_id", "is required when auto_create_dd_task is true")
	}
	if settingID < 0 {
		v.add("dd_task_search_setting_id", "must not be negative")
	}
}

// CreatedIDV is the receipt for a created IDV task. It prints as its id.
type CreatedIDV struct {
	rawResponse
	IDVTaskID ID        `json:"idv_task_id"`
	Timestamp Timestamp `json:"timestamp"`
}

func (c CreatedIDV) view() redactedView {
	return view("CreatedIDV", idAttr("idv_task_id", c.IDVTaskID))
}

// Format prints the redacted form for every verb.
func (c CreatedIDV) Format(f fmt.State, verb rune) { c.view().format(f, verb) }

// LogValue logs the redacted form.
func (c CreatedIDV) LogValue() slog.Value { return c.view().logValue() }

// Create uploads document images for verification: POST /idv. With an
// IdempotencyKey the images are read once more, to fingerprint the request.
func (s *IDVService) Create(ctx context.Context, req *CreateIDVRequest, opts ...Option) (*CreatedIDV, error) {
	prepared, err := req.prepare()
	if err != nil {
		return nil, s.client.refuse(ctx, &opIDVCreate, opts, err)
	}
	body, err := req.stream(prepared)
	if err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		return call[CreatedIDV](ctx, s.client, &opIDVCreate, "/idv", nil, body, opts)
	}
	const name = "POST /idv"
	cfg, err := s.client.config(opts)
	if err != nil {
		return nil, err
	}
	fingerprint, err := req.fingerprint(s.client, name, prepared)
	if err != nil {
		return nil, err
	}
	opts = withKeyMasked(opts, req.IdempotencyKey)
	key := keyedRequest{key: req.IdempotencyKey, fingerprint: fingerprint, field: "idempotency_key"}
	return createKeyed(ctx, s.client, cfg, name, resolveIDV, key, func(ctx context.Context) (*CreatedIDV, error) {
		return call[CreatedIDV](ctx, s.client, &opIDVCreate, "/idv", nil, body, opts)
	})
}

// Reason explains a review or reject state; see the API notes for the codes.
type Reason struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// IDVDDTask is a DD task created from an IDV task.
type IDVDDTask struct {
	ID                ID          `json:"id"`
	CreationTimestamp Timestamp   `json:"creation_timestamp"`
	AuditStatus       AuditStatus `json:"audit_status"`
}

// IDVTask is an IDV task, also the body of its callback. It prints as its id,
// state and audit status.
type IDVTask struct {
	rawResponse
	IDVTaskID              ID             `json:"idv_task_id"`
	Country                string         `json:"country"`
	IDType                 IDType         `json:"id_type"`
	IDSubType              IDSubType      `json:"id_sub_type"`
	ExpectedName           string         `json:"expected_name"`
	ExpectedBirthday       string         `json:"expected_birthday"`
	ExpectedIDNumber       string         `json:"expected_id_number"`
	ExpectedCountry        string         `json:"expected_country"`
	ExpectedIssuingDate    string         `json:"expected_issuing_date"`
	ExpectedExpiryDate     string         `json:"expected_expiry_date"`
	ExpectedGender         Gender         `json:"expected_gender"`
	CustomerReference      string         `json:"customer_reference"`
	FirstName              string         `json:"first_name"`
	LastName               string         `json:"last_name"`
	FullName               string         `json:"full_name"`
	Birthday               string         `json:"birthday"`
	IDNumber               string         `json:"id_number"`
	IssuingDate            string         `json:"issuing_date"`
	ExpiryDate             string         `json:"expiry_date"`
	Gender                 Gender         `json:"gender"`
	State                  IDVState       `json:"state"` // IDVStateMissing when the answer has none
	ReviewReasons          []Reason       `json:"review_reasons"`
	RejectReasons          []Reason       `json:"reject_reasons"`
	CreatedSearchTaskID    ID             `json:"created_search_task_id"`
	AuditStatus            IDVAuditStatus `json:"audit_status"`
	AuditTimestamp         Timestamp      `json:"audit_timestamp"`
	AuditorEmployeeAccount string         `json:"auditor_employee_account"`
	DDTasks                []IDVDDTask    `json:"dd_tasks"`
	IDImageURL             string         `json:"id_image_url,omitempty"`
	IDBackImageURL         string         `json:"id_back_image_url,omitempty"`
	FaceImageURL           string         `json:"face_image_url,omitempty"`
	IDAndFaceImageURL      string         `json:"id_and_face_image_url,omitempty"`
}

func (t IDVTask) view() redactedView {
	return view("IDVTask", idAttr("idv_task_id", t.IDVTaskID), slog.String("state", t.State.String()), slog.String("audit_status", string(t.AuditStatus)))
}

// Format prints the redacted form for every verb.
func (t IDVTask) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the redacted form.
func (t IDVTask) LogValue() slog.Value { return t.view().logValue() }

// UnmarshalJSON keeps the JSON; a missing state is IDVStateMissing.
func (t *IDVTask) UnmarshalJSON(data []byte) error { return decodeKeepingRaw(data, t) }

// decodeTarget sets the state a missing field leaves: IDVStateMissing.
func (t *IDVTask) decodeTarget() any {
	type plain IDVTask
	t.State = IDVStateMissing
	return (*plain)(t)
}

// ConsoleURL returns the task's page in the KryptoGO web console.
func (t *IDVTask) ConsoleURL() string {
	return "https://app.kryptogo.com/compliance/idv/" + t.IDVTaskID.String()
}

// Get fetches an IDV task: GET /idv/{idv_id}.
func (s *IDVService) Get(ctx context.Context, id ID, opts ...Option) (*IDVTask, error) {
	return getByID[IDVTask](ctx, s.client, &opIDVGet, id, opts)
}

// Wait polls GET /idv/{idv_id} until the state is done, or ends early as
// Tasks.Wait does. A web session waits for your customer: give ctx a deadline.
func (s *IDVService) Wait(ctx context.Context, id ID, opts *WaitOptions, callOpts ...Option) (*IDVTask, error) {
	return waitFor(ctx, s.client, id, opts, callOpts, waitTarget[IDVTask]{
		kind:    "IDV task",
		idField: "idv_id",
		fetch:   func(ctx context.Context, id ID) (*IDVTask, error) { return s.Get(ctx, id, callOpts...) },
		done:    func(t *IDVTask) bool { return t.State.Done() },
		setLast: func(e *WaitError, last *IDVTask) { e.LastIDV = last },
	})
}
