package kryptogotest

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/internal/check"
	"github.com/kyabc/kryptogo-go/internal/imageinfo"
)

// This file holds what the fake refuses: the rules of the API reference
// (and of API-NOTES where the reference is silent), applied to the raw
// request. Where neither says what the API does with a value, the fake
// refuses it: a test that passes against the fake must not fail against the
// API. Each rule names its field in the 400 answer ("invalid request:
// [0].callback_url"); the message never quotes the value.

// missing lists the fields a request lacks or gets wrong, as the API
// answers them.
type missing []string

// need lists field unless ok.
func (m *missing) need(ok bool, field string) {
	if !ok {
		*m = append(*m, field)
	}
}

// err is the refusal that lists the fields, or nil when none is listed.
func (m missing) err() error {
	if len(m) == 0 {
		return nil
	}
	return refuse(errInvalid, "invalid request: %s", strings.Join(m, ", "))
}

// optional lists field when v is given and rule refuses it. The rules are
// those of internal/check, which the SDK applies before sending.
func (m *missing) optional(field, v string, rule func(string) string) {
	m.need(v == "" || rule(v) == "", field)
}

// check lists what the reference requires of a task: an integer
// search_setting_id, a KYC or KYB target with a name (a birthday as
// YYYY-MM-DD and an ISO 3166-1 citizenship when given), known search
// sources (an empty list searches all five), a callback_url that is an
// absolute http(s) URL, and an integer from_idv_id.
func (w *wireTask) check(prefix string, m *missing) {
	m.need(w.SearchSettingID.positive(), prefix+"search_setting_id")
	m.need(w.Target != nil && (w.Target.Type == kryptogo.TargetKYC || w.Target.Type == kryptogo.TargetKYB), prefix+"target.type")
	m.need(w.Target != nil && w.Target.Name != "", prefix+"target.name")
	if w.Target != nil {
		m.optional(prefix+"target.birthday", w.Target.Birthday, check.Date)
		m.optional(prefix+"target.citizenship", w.Target.Citizenship, check.Country)
	}
	m.need(w.SearchSource != nil && knownSources(*w.SearchSource), prefix+"search_source")
	m.optional(prefix+"callback_url", w.CallbackURL, check.HTTPURL)
	m.need(w.FromIDVID.absentOrPositive(), prefix+"from_idv_id")
}

func knownSources(sources kryptogo.SearchSources) bool {
	for _, src := range sources {
		if src < kryptogo.SourceNegativeNews || src > kryptogo.SourceSanctionList {
			return false
		}
	}
	return true
}

// checkCommon lists what the three IDV endpoints require alike: an ISO
// 3166-1 alpha-3 country in upper case, callback URLs that are absolute
// http(s) URLs, an integer dd_task_search_setting_id whenever a DD task is
// to be created, and a customer_reference of at most 100 characters (the
// limit of the sessions, held to POST /idv too).
func (w *wireIDV) checkCommon(m *missing) {
	m.need(w.Country != "" && check.Alpha3(w.Country) == "", "country")
	m.optional("callback_url", w.CallbackURL, check.HTTPURL)
	m.optional("dd_task_callback_url", w.DDTaskCallbackURL, check.HTTPURL)
	setting := w.DDTaskSearchSettingID
	m.need(setting.absentOrPositive() && (!w.AutoCreateDDTask || setting.positive()), "dd_task_search_setting_id")
	m.optional("customer_reference", w.CustomerReference, maxLen(100))
	m.optional("expected_birthday", w.ExpectedBirthday, check.Date)
}

// checkWeb lists what POST /idv/init requires beyond the common rules.
func (w *wireIDV) checkWeb(m *missing) {
	m.need(knownIDType(w.IDType), "id_type")
	m.need(w.WorkflowID.ok && slices.Contains(webWorkflows, kryptogo.Workflow(w.WorkflowID.n)), "workflow_id")
	m.need(w.CustomerReference != "", "customer_reference")
	m.optional("locale", w.Locale, check.Locale)
	m.optional("success_url", w.SuccessURL, redirectURL(2047))
	m.optional("error_url", w.ErrorURL, redirectURL(255))
	w.checkTaiwanID(m, w.IDType == string(kryptogo.IDTypeIDCard))
}

// checkMobile lists what POST /idv/account requires beyond the common
// rules: workflow 3, and the Taiwan ID add-on on its ID cards.
func (w *wireIDV) checkMobile(m *missing) {
	m.need(w.WorkflowID.ok && kryptogo.Workflow(w.WorkflowID.n) == kryptogo.WorkflowMobile, "workflow_id")
	w.checkTaiwanID(m, true)
}

// checkUpload lists what POST /idv requires beyond the common rules: a
// known id_type and the images, each of them base64 text of a JPEG or PNG
// within the reference's limits, of the type its mime field declares
// (image/jpeg when none is, as the reference's default).
func (w *wireIDV) checkUpload(m *missing) {
	m.need(knownIDType(w.IDType), "id_type")
	m.need(w.IDImage != "", "id_image")
	m.need(w.IDType != string(kryptogo.IDTypeIDCard) || w.IDBackImage != "", "id_back_image")
	m.need(w.FaceImage != "" || w.IDAndFaceImage != "", "face_image")
	for _, img := range []struct{ field, data, mime string }{
		{"id_image", w.IDImage, w.IDMimeType},
		{"id_back_image", w.IDBackImage, w.IDBackMimeType},
		{"face_image", w.FaceImage, w.FaceMimeType},
		{"id_and_face_image", w.IDAndFaceImage, w.IDAndFaceMimeType},
	} {
		if img.data != "" {
			checkImage(m, img.field, img.data, img.mime)
		}
	}
}

// checkImage lists field when data is not a JPEG or PNG within the limits,
// and field's mime type field when it declares another type than data's.
func checkImage(m *missing, field, data, declared string) {
	mimeField := strings.TrimSuffix(field, "image") + "mime_type"
	if base64.StdEncoding.DecodedLen(len(data)) > kryptogo.MaxImageBytes+2 { // too big, without decoding it
		m.need(false, field)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) > kryptogo.MaxImageBytes {
		m.need(false, field)
		return
	}
	info, err := imageinfo.Inspect(bytes.NewReader(raw))
	longest := max(info.Width, info.Height)
	m.need(err == nil && longest <= kryptogo.MaxImageSide && longest >= kryptogo.MinImageLongestSide, field)
	if declared == "" {
		declared = imageinfo.JPEG
	}
	m.need(check.MIMEType(declared) == "" && (err != nil || declared == info.MIME), mimeField)
}

// checkTaiwanID lists the Taiwan ID add-on's fields when they are given
// wrongly: the reference supports them with id_type ID_CARD and country TWN
// only; the fake wants all three or none, as the SDK sends them.
func (w *wireIDV) checkTaiwanID(m *missing, idCard bool) {
	if !w.TWIDApplyCode.set && w.TWIDApplyDate == "" && w.TWIDIssueSiteID == "" {
		return
	}
	code := w.TWIDApplyCode
	m.need(idCard && w.Country == "TWN" && code.ok && code.n >= 0 && code.n <= 3, "tw_id_apply_code")
	m.need(w.TWIDApplyDate != "" && check.ROCDate(w.TWIDApplyDate) == "", "tw_id_apply_date")
	m.need(w.TWIDIssueSiteID != "" && check.TWIssueSite(w.TWIDIssueSiteID) == "", "tw_id_issue_site_id")
}

// maxLen is the rule of a text of at most n characters.
func maxLen(n int) func(string) string {
	return func(s string) string { return check.MaxLen(s, n) }
}

// redirectURL is the rule of a URL the IDV page sends the customer to: at
// most limit characters, and absolute (any scheme: a mobile web view
// returns to its app with myapp://done).
func redirectURL(limit int) func(string) string {
	return func(s string) string {
		if msg := check.MaxLen(s, limit); msg != "" {
			return msg
		}
		if u, err := url.Parse(s); err != nil || u.Scheme == "" {
			return "must be an absolute URL"
		}
		return ""
	}
}

// webWorkflows are the workflow ids POST /idv/init takes, as the reference
// lists them.
var webWorkflows = []kryptogo.Workflow{
	kryptogo.WorkflowIDOnly, kryptogo.WorkflowIDOnlyCamera, kryptogo.WorkflowIDOnlyUpload,
	kryptogo.WorkflowIDAndIdentity, kryptogo.WorkflowIDAndIdentityCamera, kryptogo.WorkflowIDAndIdentityUpload,
}

func knownIDType(t string) bool {
	switch kryptogo.IDType(t) {
	case kryptogo.IDTypePassport, kryptogo.IDTypeDrivingLicense, kryptogo.IDTypeIDCard:
		return true
	}
	return false
}

// checkKYA lists what POST /kya requires: an address of the form of its
// chain, eth or btc (the only chains the API supports), given or detected.
// It returns the chain in lower case.
func checkKYA(address, chain string) (string, error) {
	if strings.TrimSpace(address) == "" {
		return "", missing{"address"}.err()
	}
	chain = strings.ToLower(chain)
	if chain == "" {
		detected, ok := kryptogo.DetectChain(address)
		if !ok {
			return "", refuse(errInvalid, "cannot detect the chain of the address")
		}
		chain = string(detected)
	}
	var m missing
	switch chain {
	case string(kryptogo.ChainETH):
		m.need(check.IsETHAddress(address), "address")
	case string(kryptogo.ChainBTC):
		m.need(check.IsBTCAddress(address), "address")
	default:
		return "", refuse(errInvalid, "chain %q is not supported (btc, eth)", chain)
	}
	return chain, m.err()
}
