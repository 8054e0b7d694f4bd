package kryptogo

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/check"
)

// The codes of TWIDApplyCode: how the Taiwanese ID card was issued. Set the
// field with TWIDApplyCodeOf, since 0 is a value and nil means "not given".
const (
	TWIDNotIssued    = 0 // "Not Issue"
	TWIDInitialIssue = 1 // "Initial Issue"
	TWIDReissue      = 2 // "Reissue"
	TWIDChange       = 3 // "Change"
)

// TWIDApplyCodeOf returns a pointer to code, for the TWIDApplyCode fields.
func TWIDApplyCodeOf(code int) *int { return &code }

// taiwanIDFields is the Taiwan ID add-on: the card's issue data, checked
// against the Ministry of the Interior. It applies to ID_CARD and TWN only.
type taiwanIDFields struct {
	applyCode *int
	applyDate string
	siteID    string
}

func (tw taiwanIDFields) set() bool {
	return tw.applyCode != nil || tw.applyDate != "" || tw.siteID != ""
}

// validate checks the add-on: all three fields together, on a Taiwanese ID
// card only (idCard tells whether the document is an ID card).
func (tw taiwanIDFields) validate(v *validator, idCard bool, country string) {
	if !tw.set() {
		return
	}
	if !idCard || country != "TWN" {
		v.add("tw_id_apply_code", "the Taiwan ID add-on applies only to id_type ID_CARD with country TWN")
	}
	if tw.applyCode == nil {
		v.add("tw_id_apply_code", "is required with the other tw_id_ fields")
	} else if *tw.applyCode < 0 || *tw.applyCode > 3 {
		v.addf("tw_id_apply_code", "%d must be 0 (not issued), 1 (initial), 2 (reissue) or 3 (change)", *tw.applyCode)
	}
	if tw.applyDate == "" {
		v.add("tw_id_apply_date", "is required with the other tw_id_ fields")
	} else {
		v.add("tw_id_apply_date", check.ROCDate(tw.applyDate))
	}
	if tw.siteID == "" {
		v.add("tw_id_issue_site_id", "is required with the other tw_id_ fields")
	} else {
		v.add("tw_id_issue_site_id", check.TWIssueSite(tw.siteID))
	}
}

// InitWebIDVRequest starts a web IDV session (the Jumio variant; send the
// Sumsub one with Client.Do). It prints as its document type and workflow.
type InitWebIDVRequest struct {
	IDType                IDType   `json:"id_type"`               // required
	WorkflowID            Workflow `json:"workflow_id"`           // required: 100-102 or 200-202
	Country               string   `json:"country"`               // required: ISO 3166-1 alpha-3
	CustomerReference     string   `json:"customer_reference"`    // required, at most 100 characters
	Locale                string   `json:"locale,omitempty"`      // page language; "en" when empty
	SuccessURL            string   `json:"success_url,omitempty"` // at most 2047 characters
	ErrorURL              string   `json:"error_url,omitempty"`   // at most 255 characters
	ExpectedName          string   `json:"expected_name,omitempty"`
	ExpectedBirthday      string   `json:"expected_birthday,omitempty"` // YYYY-MM-DD
	ExpectedIDNumber      string   `json:"expected_id_number,omitempty"`
	CallbackURL           string   `json:"callback_url,omitempty"`
	AutoCreateDDTask      bool     `json:"auto_create_dd_task,omitempty"`
	DDTaskCallbackURL     string   `json:"dd_task_callback_url,omitempty"`
	DDTaskSearchSettingID ID       `json:"dd_task_search_setting_id,omitempty"` // required with AutoCreateDDTask
	TWIDApplyCode         *int     `json:"tw_id_apply_code,omitempty"`          // TWID...: ID_CARD and TWN only, all three or none
	TWIDApplyDate         string   `json:"tw_id_apply_date,omitempty"`          // 7-digit ROC date, 1070102
	TWIDIssueSiteID       string   `json:"tw_id_issue_site_id,omitempty"`       // 5-digit site code
	IdempotencyKey        string   `json:"-"`                                   // at most once per key (package doc)
}

func (r InitWebIDVRequest) view() redactedView {
	return view("InitWebIDVRequest", slog.String("id_type", string(r.IDType)), slog.String("workflow", r.WorkflowID.String()))
}

// Format prints the redacted form for every verb.
func (r InitWebIDVRequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
func (r InitWebIDVRequest) LogValue() slog.Value { return r.view().logValue() }

func (r *InitWebIDVRequest) defaults() {}

func (r *InitWebIDVRequest) validate(v *validator) {
	validateIDType(v, r.IDType)
	if !r.WorkflowID.isWeb() {
		v.addf("workflow_id", "%d must be 100, 101, 102, 200, 201 or 202", r.WorkflowID)
	}
	if v.required("country", r.Country) {
		v.add("country", check.Alpha3(r.Country))
	}
	if v.required("customer_reference", r.CustomerReference) {
		v.add("customer_reference", check.MaxLen(r.CustomerReference, 100))
	}
	v.optional("locale", r.Locale, check.Locale)
	validateRedirect(v, "success_url", r.SuccessURL, 2047)
	validateRedirect(v, "error_url", r.ErrorURL, 255)
	v.optional("expected_birthday", r.ExpectedBirthday, check.Date)
	v.optional("callback_url", r.CallbackURL, check.HTTPURL)
	validateDDTask(v, r.AutoCreateDDTask, r.DDTaskCallbackURL, r.DDTaskSearchSettingID)
	validateCallbackReferences(v, r.CustomerReference, r.CallbackURL, r.DDTaskCallbackURL)
	taiwanIDFields{r.TWIDApplyCode, r.TWIDApplyDate, r.TWIDIssueSiteID}.validate(v, r.IDType == IDTypeIDCard, r.Country)
	validateIdempotencyKey(v, r.IdempotencyKey)
}

// personalValues returns the expected_* values and the Taiwan ID fields.
func (r InitWebIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.TWIDApplyDate, r.TWIDIssueSiteID)
}

// validateRedirect checks a URL the IDV page sends the customer's browser
// to: within the reference's length limit, and absolute. Any scheme is
// fine (a mobile web view returns to its app with myapp://done) except
// those that run script in the page: javascript:, vbscript: and data:.
func validateRedirect(v *validator, field, u string, limit int) {
	if u == "" {
		return
	}
	if msg := check.MaxLen(u, limit); msg != "" {
		v.add(field, msg)
		return
	}
	parsed, err := url.Parse(u)
	switch {
	case err != nil || parsed.Scheme == "":
		v.add(field, "must be an absolute URL, such as https://example.com/done or myapp://done")
	case scriptSchemes[strings.ToLower(parsed.Scheme)]:
		v.add(field, "must not use a scheme that runs script (javascript:, vbscript:, data:)")
	}
}

// scriptSchemes are the URL schemes a browser runs as script or content of
// the page that redirects.
var scriptSchemes = map[string]bool{"javascript": true, "vbscript": true, "data": true}

// WebIDVSession is a web session: send your customer to URL, which never prints.
type WebIDVSession struct {
	rawResponse
	IDVTaskID ID        `json:"idv_task_id"`
	URL       string    `json:"url"`
	Timestamp Timestamp `json:"timestamp"` // the API sends RFC 3339 here
}

func (w WebIDVSession) view() redactedView {
	return view("WebIDVSession", idAttr("idv_task_id", w.IDVTaskID))
}

// Format prints the redacted form for every verb.
func (w WebIDVSession) Format(f fmt.State, verb rune) { w.view().format(f, verb) }

// LogValue logs the redacted form.
func (w WebIDVSession) LogValue() slog.Value { return w.view().logValue() }

// InitWeb starts a web IDV session: POST /idv/init (500+ points).
func (s *IDVService) InitWeb(ctx context.Context, req *InitWebIDVRequest, opts ...Option) (*WebIDVSession, error) {
	body, err := prepare(req)
	if err != nil {
		return nil, s.client.refuse(ctx, &opIDVWeb, opts, err)
	}
	return sendIDVSession[WebIDVSession](ctx, s.client, &opIDVWeb, "/idv/init", body, body.IdempotencyKey, opts)
}

// sendIDVSession starts a web or mobile session: under its idempotency key
// when it has one. body is validated.
func sendIDVSession[T any](ctx context.Context, c *Client, op *Operation, path string, body personalData, idempotencyKey string, opts []Option) (*T, error) {
	if idempotencyKey == "" {
		return sendJSON[T](ctx, c, op, path, body, opts)
	}
	name := op.Method + " " + path
	cfg, err := c.config(opts)
	if err != nil {
		return nil, err
	}
	fingerprint, err := c.jsonFingerprint(name, body)
	if err != nil {
		return nil, err
	}
	opts = withKeyMasked(opts, idempotencyKey)
	key := keyedRequest{key: idempotencyKey, fingerprint: fingerprint, field: "idempotency_key"}
	return createKeyed(ctx, c, cfg, name, resolveIDV, key, func(ctx context.Context) (*T, error) {
		return sendJSON[T](ctx, c, op, path, body, opts)
	})
}

// InitMobileIDVRequest starts a mobile SDK IDV session (Jumio, ID cards
// only). It prints as its workflow.
type InitMobileIDVRequest struct {
	WorkflowID            Workflow `json:"workflow_id"` // 3, the only one the endpoint takes; 0 sends 3
	Country               string   `json:"country"`     // required: ISO 3166-1 alpha-3
	ExpectedName          string   `json:"expected_name,omitempty"`
	ExpectedBirthday      string   `json:"expected_birthday,omitempty"` // YYYY-MM-DD
	ExpectedIDNumber      string   `json:"expected_id_number,omitempty"`
	CallbackURL           string   `json:"callback_url,omitempty"`
	CustomerReference     string   `json:"customer_reference,omitempty"` // at most 100 characters
	AutoCreateDDTask      bool     `json:"auto_create_dd_task,omitempty"`
	DDTaskCallbackURL     string   `json:"dd_task_callback_url,omitempty"`
	DDTaskSearchSettingID ID       `json:"dd_task_search_setting_id,omitempty"` // required with AutoCreateDDTask
	TWIDApplyCode         *int     `json:"tw_id_apply_code,omitempty"`          // TWID...: TWN only, all three or none
	TWIDApplyDate         string   `json:"tw_id_apply_date,omitempty"`
	TWIDIssueSiteID       string   `json:"tw_id_issue_site_id,omitempty"`
	IdempotencyKey        string   `json:"-"` // at most once per key (package doc)
}

func (r InitMobileIDVRequest) view() redactedView {
	return view("InitMobileIDVRequest", slog.String("workflow", r.WorkflowID.String()))
}

// Format prints the redacted form for every verb.
func (r InitMobileIDVRequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
func (r InitMobileIDVRequest) LogValue() slog.Value { return r.view().logValue() }

// defaults sends workflow 3, the only one the endpoint takes, when none is given.
func (r *InitMobileIDVRequest) defaults() {
	if r.WorkflowID == 0 {
		r.WorkflowID = WorkflowMobile
	}
}

func (r *InitMobileIDVRequest) validate(v *validator) {
	if r.WorkflowID != WorkflowMobile {
		v.addf("workflow_id", "%d must be 3, the only workflow of mobile sessions", r.WorkflowID)
	}
	if v.required("country", r.Country) {
		v.add("country", check.Alpha3(r.Country))
	}
	v.optional("customer_reference", r.CustomerReference, func(s string) string { return check.MaxLen(s, 100) })
	v.optional("expected_birthday", r.ExpectedBirthday, check.Date)
	v.optional("callback_url", r.CallbackURL, check.HTTPURL)
	validateDDTask(v, r.AutoCreateDDTask, r.DDTaskCallbackURL, r.DDTaskSearchSettingID)
	validateCallbackReferences(v, r.CustomerReference, r.CallbackURL, r.DDTaskCallbackURL)
	// Mobile sessions verify ID cards only.
	taiwanIDFields{r.TWIDApplyCode, r.TWIDApplyDate, r.TWIDIssueSiteID}.validate(v, true, r.Country)
	validateIdempotencyKey(v, r.IdempotencyKey)
}

// personalValues returns the expected_* values and the Taiwan ID fields.
func (r InitMobileIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.TWIDApplyDate, r.TWIDIssueSiteID)
}

// MobileIDVSession is a started mobile session: hand SDKToken to the Jumio
// SDK in your app. It prints as its id, never its token.
type MobileIDVSession struct {
	rawResponse
	IDVTaskID ID        `json:"idv_task_id"`
	SDKToken  string    `json:"sdk_token"`
	Timestamp Timestamp `json:"timestamp"`
}

func (m MobileIDVSession) view() redactedView {
	return view("MobileIDVSession", idAttr("idv_task_id", m.IDVTaskID))
}

// Format prints the redacted form for every verb.
func (m MobileIDVSession) Format(f fmt.State, verb rune) { m.view().format(f, verb) }

// LogValue logs the redacted form.
func (m MobileIDVSession) LogValue() slog.Value { return m.view().logValue() }

// InitMobile starts a mobile IDV session: POST /idv/account (500+ points).
func (s *IDVService) InitMobile(ctx context.Context, req *InitMobileIDVRequest, opts ...Option) (*MobileIDVSession, error) {
	body, err := prepare(req)
	if err != nil {
		return nil, s.client.refuse(ctx, &opIDVMobile, opts, err)
	}
	return sendIDVSession[MobileIDVSession](ctx, s.client, &opIDVMobile, "/idv/account", body, body.IdempotencyKey, opts)
}
