package kryptogo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testPNG(t testing.TB, w, h int) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))))
	return buf.Bytes()
}

func testJPEG(t testing.TB, w, h int) []byte {
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)), nil))
	return buf.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestIDVCreate(t *testing.T) {
	t.Parallel()
	front, back, face, held := testJPEG(t, 640, 400), testJPEG(t, 640, 401), testPNG(t, 400, 600), testPNG(t, 800, 600)
	want := `{
		"country": "TWN", "id_type": "ID_CARD",
		"id_image": "` + b64(front) + `", "id_mime_type": "image/jpeg",
		"id_back_image": "` + b64(back) + `", "id_back_mime_type": "image/jpeg",
		"face_image": "` + b64(face) + `", "face_mime_type": "image/png",
		"id_and_face_image": "` + b64(held) + `", "id_and_face_mime_type": "image/png",
		"expected_name": "王又曾", "expected_birthday": "1990-06-21", "expected_id_number": "A123456789",
		"expected_issuing_date": "2020-03-10", "expected_expiry_date": "2025-03-10", "expected_gender": "M",
		"customer_reference": "000000123", "auto_create_dd_task": true,
		"dd_task_callback_url": "https://myserver.com/send/callback/here", "dd_task_search_setting_id": 120
	}`
	client, mux := setup(t)
	mux.HandleFunc("/idv", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/idv")
		assertJSONBody(t, r, want)
		serveFixture(t, "idv_create_response.json")(w)
	})
	dir := t.TempDir()
	frontFile := filepath.Join(dir, "front.jpg")
	require.NoError(t, os.WriteFile(frontFile, front, 0o600))

	got, err := client.IDV.Create(t.Context(), &CreateIDVRequest{
		Country: "TWN", IDType: IDTypeIDCard,
		IDImage:        ImageFromFile(frontFile),
		IDBackImage:    ImageFromBytes(back).WithMIMEType("image/jpeg"),
		FaceImage:      ImageFromBase64(b64(face)),
		IDAndFaceImage: ImageFromBase64("data:image/png;base64," + b64(held)),
		ExpectedName:   "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		ExpectedIssuingDate: "2020-03-10", ExpectedExpiryDate: "2025-03-10", ExpectedGender: GenderMale,
		CustomerReference: "000000123", AutoCreateDDTask: true,
		DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
	})
	require.NoError(t, err)
	assertDecoded(t, &CreatedIDV{IDVTaskID: 12, Timestamp: ts(1623859200)}, got)
	assertRaw(t, fixture(t, "idv_create_response.json"), got)
}

// The reference's request sample carries placeholder base64; the body the
// SDK sends for the same request has the same fields and values, images
// aside.
func TestIDVCreateMatchesReferenceSample(t *testing.T) {
	t.Parallel()
	img := ImageFromBytes(testJPEG(t, 640, 400))
	body, err := (&CreateIDVRequest{
		Country: "TWN", IDType: IDTypeIDCard, IDImage: img, IDBackImage: img, FaceImage: img, IDAndFaceImage: img,
		ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		ExpectedIssuingDate: "2020-03-10", ExpectedExpiryDate: "2025-03-10", ExpectedGender: GenderMale,
		CustomerReference: "000000123", AutoCreateDDTask: true,
		DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
	}).body()
	require.NoError(t, err)
	sent, err := io.ReadAll(body.open())
	require.NoError(t, err)
	var got, want map[string]any
	require.NoError(t, json.Unmarshal(sent, &got))
	require.NoError(t, json.Unmarshal(fixture(t, "idv_create_request.json"), &want))
	for _, field := range []string{"id_image", "id_back_image", "face_image", "id_and_face_image"} {
		assert.Equal(t, b64(testJPEG(t, 640, 400)), got[field], field)
		got[field] = want[field]
	}
	assert.Equal(t, want, got)
}

func TestIDVCreateRetryReplaysImages(t *testing.T) {
	t.Parallel()
	face := testPNG(t, 500, 500)
	client, mux := setup(t)
	var bodies [][]byte
	mux.HandleFunc("/idv", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		bodies = append(bodies, b)
		if len(bodies) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		serveFixture(t, "idv_create_response.json")(w)
	})
	dir := t.TempDir()
	path := filepath.Join(dir, "face.png")
	require.NoError(t, os.WriteFile(path, face, 0o600))
	_, err := client.IDV.Create(t.Context(), &CreateIDVRequest{
		Country: "JPN", IDType: IDTypePassport, IDImage: ImageFromFile(path), FaceImage: ImageFromFile(path),
	})
	require.NoError(t, err)
	require.Len(t, bodies, 2)
	assert.Equal(t, bodies[0], bodies[1], "the retry sends the same bytes")
	assert.JSONEq(t, `{"country":"JPN","id_type":"PASSPORT","id_image":"`+b64(face)+`","id_mime_type":"image/png","face_image":"`+b64(face)+`","face_mime_type":"image/png"}`, string(bodies[1]))
}

func TestIDVCreateValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	okJPEG := ImageFromBytes(testJPEG(t, 640, 400))
	valid := func() *CreateIDVRequest {
		return &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, IDImage: okJPEG, FaceImage: okJPEG}
	}
	with := func(mut func(*CreateIDVRequest)) *CreateIDVRequest {
		r := valid()
		mut(r)
		return r
	}
	huge := append(testJPEG(t, 640, 400), make([]byte, MaxImageBytes)...)
	for _, tc := range []struct {
		name   string
		req    *CreateIDVRequest
		fields []string
	}{
		{"nil", nil, []string{"request"}},
		{"empty", &CreateIDVRequest{}, []string{"country", "id_type", "id_image", "face_image"}},
		{"bad country", with(func(r *CreateIDVRequest) { r.Country = "TW" }), []string{"country"}},
		{"numeric country", with(func(r *CreateIDVRequest) { r.Country = "158" }), []string{"country"}},
		{"bad id type", with(func(r *CreateIDVRequest) { r.IDType = "PASSPORTS" }), []string{"id_type"}},
		{"id card needs back", with(func(r *CreateIDVRequest) { r.IDType = IDTypeIDCard }), []string{"id_back_image"}},
		{"face or held", with(func(r *CreateIDVRequest) { r.FaceImage = nil }), []string{"face_image"}},
		// The reference gives a format for expected_birthday only.
		{"dates", with(func(r *CreateIDVRequest) {
			r.ExpectedBirthday, r.ExpectedIssuingDate, r.ExpectedExpiryDate = "1990/06/21", "2020-13-01", "2025-02-29"
		}), []string{"expected_birthday"}},
		{"gender", with(func(r *CreateIDVRequest) { r.ExpectedGender = "male" }), []string{"expected_gender"}},
		{"callback", with(func(r *CreateIDVRequest) { r.CallbackURL = "myserver.com/cb" }), []string{"callback_url"}},
		{"dd callback", with(func(r *CreateIDVRequest) { r.DDTaskCallbackURL = "mailto:x@y.z" }), []string{"dd_task_callback_url"}},
		{"auto create needs setting", with(func(r *CreateIDVRequest) { r.AutoCreateDDTask = true }), []string{"dd_task_search_setting_id"}},
		{"negative setting", with(func(r *CreateIDVRequest) { r.DDTaskSearchSettingID = -1 }), []string{"dd_task_search_setting_id"}},
		{"missing file", with(func(r *CreateIDVRequest) { r.IDImage = ImageFromFile(filepath.Join(dir, "nope.jpg")) }), []string{"id_image"}},
		{"bad base64", with(func(r *CreateIDVRequest) { r.FaceImage = ImageFromBase64("/9j/4AAQ!!!") }), []string{"face_image"}},
		{"not an image", with(func(r *CreateIDVRequest) { r.FaceImage = ImageFromBytes([]byte("hello")) }), []string{"face_image"}},
		{"empty image", with(func(r *CreateIDVRequest) { r.FaceImage = ImageFromBytes(nil) }), []string{"face_image"}},
		{"too small", with(func(r *CreateIDVRequest) { r.IDImage = ImageFromBytes(testPNG(t, 300, 200)) }), []string{"id_image"}},
		{"too wide", with(func(r *CreateIDVRequest) { r.IDImage = ImageFromBytes(testPNG(t, 8000, 10)) }), []string{"id_image"}},
		{"too large", with(func(r *CreateIDVRequest) { r.IDImage = ImageFromBytes(huge) }), []string{"id_image"}},
		{"png labelled jpeg", with(func(r *CreateIDVRequest) {
			r.IDImage = ImageFromBytes(testPNG(t, 640, 400)).WithMIMEType("image/jpeg")
		}), []string{"id_mime_type"}},
		{"unsupported mime", with(func(r *CreateIDVRequest) { r.FaceImage = okJPEG.WithMIMEType("image/jpg") }), []string{"face_mime_type"}},
		{"data uri mismatch", with(func(r *CreateIDVRequest) {
			r.IDAndFaceImage = ImageFromBase64("data:image/jpeg;base64," + b64(testPNG(t, 640, 400)))
		}), []string{"id_and_face_mime_type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offlineClient(t).IDV.Create(t.Context(), tc.req)
			assert.Equal(t, tc.fields, fieldsOf(t, err), tc.name)
		})
	}

	_, err := offlineClient(t).IDV.Create(t.Context(), with(func(r *CreateIDVRequest) {
		r.IDImage = ImageFromFile(filepath.Join(dir, "passport.jpg"))
	}))
	assert.ErrorContains(t, err, "id_image: cannot read image")
	assert.ErrorContains(t, err, "file not found")

	_, err = offlineClient(t).IDV.Create(t.Context(), with(func(r *CreateIDVRequest) { r.IDImage = ImageFromBytes(huge) }))
	assert.ErrorContains(t, err, "the API takes at most 15 MB")
}

func wantIDVTask() *IDVTask {
	return &IDVTask{
		IDVTaskID: 12, Country: "TWN", IDType: IDTypeIDCard, IDSubType: IDSubTypeNationalID,
		ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		ExpectedCountry: "TWN", ExpectedIssuingDate: "2020-03-10", ExpectedExpiryDate: "2025-03-10",
		ExpectedGender: GenderMale, CustomerReference: "000000123",
		FirstName: "又曾", LastName: "王", FullName: "王又曾", Birthday: "1965-03-16", IDNumber: "A223456789",
		IssuingDate: "2020-03-10", ExpiryDate: "2025-03-10", Gender: GenderMale, State: IDVAccept,
		ReviewReasons:       []Reason{{Code: 501, Description: "birthday doesn't match expected"}},
		RejectReasons:       []Reason{},
		CreatedSearchTaskID: 102, AuditStatus: IDVAuditAccepted, AuditTimestamp: ts(1641982000),
		AuditorEmployeeAccount: "admin",
		DDTasks:                []IDVDDTask{{ID: 102, CreationTimestamp: ts(1641982000), AuditStatus: AuditAccepted}},
	}
}

func TestIDVGet(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	handleGET(t, mux, "/idv/12", "idv_task.json")
	got, err := client.IDV.Get(t.Context(), 12)
	require.NoError(t, err)
	assertDecoded(t, wantIDVTask(), got)
	assertRaw(t, fixture(t, "idv_task.json"), got)
	assert.Equal(t, "https://app.kryptogo.com/compliance/idv/12", got.ConsoleURL())
}

func TestIDVTaskQuirks(t *testing.T) {
	t.Parallel()
	var got IDVTask
	require.NoError(t, json.Unmarshal(fixture(t, "idv_task_quirks.json"), &got))
	assertDecoded(t, &IDVTask{
		IDVTaskID: 15, Country: "JPN", IDType: IDTypePassport, IDSubType: IDSubTypeEPassport,
		ExpectedCountry: "JPN", ExpectedGender: GenderOther,
		FirstName: "Taro", LastName: "Yamada", FullName: "Taro Yamada", Birthday: "1980-01-01", IDNumber: "TK1234567",
		IssuingDate: "2019-01-01", ExpiryDate: "2029-01-01", Gender: GenderOther, State: IDVReject,
		RejectReasons:          []Reason{{106, "fake"}, {999, "a code the SDK does not know"}},
		AuditStatus:            IDVAuditRejected,
		AuditTimestamp:         Timestamp{time.Date(2024, 1, 12, 10, 0, 0, 0, time.UTC)},
		AuditorEmployeeAccount: "admin",
		IDImageURL:             "https://cdn.example.com/id.jpg",
		FaceImageURL:           "https://cdn.example.com/face.jpg",
	}, &got)
	assert.Contains(t, string(got.RawJSON()), `"engine": "jumio"`)

	var missing IDVTask
	require.NoError(t, json.Unmarshal(fixture(t, "idv_task_no_state.json"), &missing))
	assert.Equal(t, IDVStateMissing, missing.State, "a missing state never reads as accept")
	assert.False(t, missing.State.Done())
}

func TestIDVTaskLogValueHidesPersonalData(t *testing.T) {
	t.Parallel()
	var task IDVTask
	require.NoError(t, json.Unmarshal(fixture(t, "idv_task.json"), &task))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("callback", "task", &task)
	assert.Contains(t, buf.String(), `"task":{"idv_task_id":12,"state":"Accept","audit_status":"Accepted"}`)
	for _, pii := range []string{"王又曾", "A223456789", "1965-03-16", "又曾"} {
		assert.NotContains(t, buf.String(), pii)
	}
}

func TestIDVInitWeb(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ fixture, want string }{
		{"idv_init_response.json", "2022-01-10T09:30:00Z"},
		{"idv_init_response_unix.json", "2022-01-10T09:30:00Z"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/idv/init", func(w http.ResponseWriter, r *http.Request) {
				assertRequest(t, r, http.MethodPost, "/idv/init")
				assertJSONBody(t, r, string(fixture(t, "idv_init_request.json")))
				serveFixture(t, tc.fixture)(w)
			})
			got, err := client.IDV.InitWeb(t.Context(), &InitWebIDVRequest{
				IDType: IDTypeIDCard, WorkflowID: WorkflowIDAndIdentity, Country: "TWN", CustomerReference: "000000123",
				Locale: "zh-HK", ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
				AutoCreateDDTask: true, DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
				TWIDApplyCode: ptr(2), TWIDApplyDate: "1070102", TWIDIssueSiteID: "10011",
			})
			require.NoError(t, err, tc.fixture)
			when, _ := time.Parse(time.RFC3339, tc.want)
			assertDecoded(t, &WebIDVSession{
				IDVTaskID: 13, URL: "https://kryptogo.netverify.com/web/v4/app?locale=zh-HK&authorizationToken=xyz",
				Timestamp: Timestamp{when},
			}, got)
			assertRaw(t, fixture(t, tc.fixture), got)
		})
	}
}

func TestIDVInitWebSendsApplyCodeZero(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/idv/init", func(w http.ResponseWriter, r *http.Request) {
		assertJSONBody(t, r, `{"id_type":"ID_CARD","workflow_id":100,"country":"TWN","customer_reference":"c",
			"tw_id_apply_code":0,"tw_id_apply_date":"1070102","tw_id_issue_site_id":"63000"}`)
		serveFixture(t, "idv_init_response.json")(w)
	})
	_, err := client.IDV.InitWeb(t.Context(), &InitWebIDVRequest{
		IDType: IDTypeIDCard, WorkflowID: WorkflowIDOnly, Country: "TWN", CustomerReference: "c",
		TWIDApplyCode: ptr(0), TWIDApplyDate: "1070102", TWIDIssueSiteID: "63000",
	})
	require.NoError(t, err)
}

func TestIDVInitWebValidation(t *testing.T) {
	t.Parallel()
	valid := func() *InitWebIDVRequest {
		return &InitWebIDVRequest{IDType: IDTypeIDCard, WorkflowID: WorkflowIDOnlyUpload, Country: "TWN", CustomerReference: "c1"}
	}
	with := func(mut func(*InitWebIDVRequest)) *InitWebIDVRequest {
		r := valid()
		mut(r)
		return r
	}
	tw := func(r *InitWebIDVRequest) {
		r.TWIDApplyCode, r.TWIDApplyDate, r.TWIDIssueSiteID = ptr(1), "1070102", "10011"
	}
	for _, tc := range []struct {
		name   string
		req    *InitWebIDVRequest
		fields []string
	}{
		{"nil", nil, []string{"request"}},
		{"empty", &InitWebIDVRequest{}, []string{"id_type", "workflow_id", "country", "customer_reference"}},
		{"mobile workflow", with(func(r *InitWebIDVRequest) { r.WorkflowID = WorkflowMobile }), []string{"workflow_id"}},
		{"unknown workflow", with(func(r *InitWebIDVRequest) { r.WorkflowID = 103 }), []string{"workflow_id"}},
		{"long reference", with(func(r *InitWebIDVRequest) { r.CustomerReference = strings.Repeat("x", 101) }), []string{"customer_reference"}},
		{"locale", with(func(r *InitWebIDVRequest) { r.Locale = "zh-TW" }), []string{"locale"}},
		{"long success url", with(func(r *InitWebIDVRequest) { r.SuccessURL = "https://x.com/" + strings.Repeat("a", 2034) }), []string{"success_url"}},
		{"relative success url", with(func(r *InitWebIDVRequest) { r.SuccessURL = "/done" }), []string{"success_url"}},
		{"long error url", with(func(r *InitWebIDVRequest) { r.ErrorURL = "https://x.com/" + strings.Repeat("a", 242) }), []string{"error_url"}},
		{"schemeless error url", with(func(r *InitWebIDVRequest) { r.ErrorURL = "example.com/failed" }), []string{"error_url"}},
		{"script success url", with(func(r *InitWebIDVRequest) { r.SuccessURL = "javascript:alert(1)" }), []string{"success_url"}},
		{"data error url", with(func(r *InitWebIDVRequest) { r.ErrorURL = "DATA:text/html,<script>x</script>" }), []string{"error_url"}},
		{"vbscript success url", with(func(r *InitWebIDVRequest) { r.SuccessURL = "vbscript:msgbox" }), []string{"success_url"}},
		{"birthday", with(func(r *InitWebIDVRequest) { r.ExpectedBirthday = "21-06-1990" }), []string{"expected_birthday"}},
		{"callback", with(func(r *InitWebIDVRequest) { r.CallbackURL = "x" }), []string{"callback_url"}},
		{"auto create", with(func(r *InitWebIDVRequest) { r.AutoCreateDDTask = true }), []string{"dd_task_search_setting_id"}},
		{"tw on passport", with(func(r *InitWebIDVRequest) { tw(r); r.IDType = IDTypePassport }), []string{"tw_id_apply_code"}},
		{"tw outside TWN", with(func(r *InitWebIDVRequest) { tw(r); r.Country = "JPN" }), []string{"tw_id_apply_code"}},
		{"tw code range", with(func(r *InitWebIDVRequest) { tw(r); r.TWIDApplyCode = ptr(4) }), []string{"tw_id_apply_code"}},
		{"tw date", with(func(r *InitWebIDVRequest) { tw(r); r.TWIDApplyDate = "2018-01-02" }), []string{"tw_id_apply_date"}},
		{"tw site", with(func(r *InitWebIDVRequest) { tw(r); r.TWIDIssueSiteID = "99999" }), []string{"tw_id_issue_site_id"}},
		{"tw partial", with(func(r *InitWebIDVRequest) { r.TWIDApplyDate = "1070102" }), []string{"tw_id_apply_code", "tw_id_issue_site_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offlineClient(t).IDV.InitWeb(t.Context(), tc.req)
			assert.Equal(t, tc.fields, fieldsOf(t, err), tc.name)
		})
	}
	for name, good := range map[string]*InitWebIDVRequest{
		"minimal":          valid(),
		"taiwan add-on":    with(tw),
		"reference of 100": with(func(r *InitWebIDVRequest) { r.CustomerReference = strings.Repeat("客", 100) }),
		"success url 2047": with(func(r *InitWebIDVRequest) { r.SuccessURL = "https://x.com/" + strings.Repeat("a", 2033) }),
		"error url 255":    with(func(r *InitWebIDVRequest) { r.ErrorURL = "https://x.com/" + strings.Repeat("a", 241) }),
		// The reference sets no scheme: a mobile web view returns to its app.
		"app success url":   with(func(r *InitWebIDVRequest) { r.SuccessURL = "myapp://idv/done?ref=c1" }),
		"app error url":     with(func(r *InitWebIDVRequest) { r.ErrorURL = "com.example.app:/idv/failed" }),
		"every locale":      with(func(r *InitWebIDVRequest) { r.Locale = "pt-BR" }),
		"auto with setting": with(func(r *InitWebIDVRequest) { r.AutoCreateDDTask, r.DDTaskSearchSettingID = true, 3 }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := prepare(good)
			assert.NoError(t, err, name)
		})
	}
}

func TestIDVInitMobile(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/idv/account", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/idv/account")
		assertJSONBody(t, r, string(fixture(t, "idv_account_request.json")))
		serveFixture(t, "idv_account_response.json")(w)
	})
	req := &InitMobileIDVRequest{
		Country: "TWN", ExpectedName: "王又曾", ExpectedBirthday: "1990-06-21", ExpectedIDNumber: "A123456789",
		CustomerReference: "000000123", AutoCreateDDTask: true,
		DDTaskCallbackURL: "https://myserver.com/send/callback/here", DDTaskSearchSettingID: 120,
		TWIDApplyCode: ptr(2), TWIDApplyDate: "1070102", TWIDIssueSiteID: "10011",
	}
	got, err := client.IDV.InitMobile(t.Context(), req)
	require.NoError(t, err)
	assertDecoded(t, &MobileIDVSession{IDVTaskID: 15, SDKToken: "eyJhbGciOiJIUzUxMiI...umLYOxUj4u6wXYpcodRl2qtt0oOew63L7Hwg", Timestamp: ts(1641807000)}, got)
	assertRaw(t, fixture(t, "idv_account_response.json"), got)
	assert.Equal(t, Workflow(0), req.WorkflowID, "the default is filled in the body, not the caller's request")
}

func TestIDVInitMobileValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		req    *InitMobileIDVRequest
		fields []string
	}{
		{"nil", nil, []string{"request"}},
		{"empty", &InitMobileIDVRequest{}, []string{"country"}},
		{"web workflow", &InitMobileIDVRequest{WorkflowID: WorkflowIDOnly, Country: "TWN"}, []string{"workflow_id"}},
		{"long reference", &InitMobileIDVRequest{Country: "TWN", CustomerReference: strings.Repeat("x", 101)}, []string{"customer_reference"}},
		{"tw outside TWN", &InitMobileIDVRequest{Country: "USA", TWIDApplyCode: ptr(1), TWIDApplyDate: "1070102", TWIDIssueSiteID: "10011"}, []string{"tw_id_apply_code"}},
		{"auto create", &InitMobileIDVRequest{Country: "TWN", AutoCreateDDTask: true}, []string{"dd_task_search_setting_id"}},
		{"birthday and callback", &InitMobileIDVRequest{Country: "TWN", ExpectedBirthday: "x", CallbackURL: "y"}, []string{"expected_birthday", "callback_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offlineClient(t).IDV.InitMobile(t.Context(), tc.req)
			assert.Equal(t, tc.fields, fieldsOf(t, err), tc.name)
		})
	}
}

func TestIDVWait(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	var polls atomic.Int32
	mux.HandleFunc("/idv/16", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodGet, "/idv/16")
		if polls.Add(1) < 3 {
			serveFixture(t, "idv_task_pending.json")(w)
			return
		}
		_, _ = w.Write([]byte(`{"idv_task_id":16,"state":1,"review_reasons":[{"code":400,"description":"face mismatch"}]}`))
	})
	recordWaits(client, time.Time{})
	got, err := client.IDV.Wait(t.Context(), 16, nil)
	require.NoError(t, err)
	assert.Equal(t, IDVReview, got.State)
	assert.Equal(t, []Reason{{400, "face mismatch"}}, got.ReviewReasons)
	assert.Equal(t, int32(3), polls.Load())
}

func TestIDVWaitDeadlineKeepsLastState(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/idv/16", func(w http.ResponseWriter, r *http.Request) { serveFixture(t, "idv_task_pending.json")(w) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a net only: the deadline comes through the sleep hook
	defer cancel()
	client.sleep = deadlineAfterSleeps(1) // the deadline arrives in the second pause, whatever the machine's speed
	_, err := client.IDV.Wait(ctx, 16, nil)
	var werr *WaitError
	require.ErrorAs(t, err, &werr)
	require.NotNil(t, werr.LastIDV)
	assert.Equal(t, IDVPending, werr.LastIDV.State)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for IDV task 16")
	assert.Contains(t, err.Error(), "last state Pending")

	cancel() // bad input is reported even once the context has ended
	_, err = client.IDV.Wait(ctx, -1, nil)
	assert.Equal(t, []string{"idv_id"}, fieldsOf(t, err))
	_, err = client.IDV.Get(ctx, 0)
	assert.Equal(t, []string{"idv_id"}, fieldsOf(t, err))
}

func FuzzCreateIDVRequest(f *testing.F) {
	f.Add("TWN", "ID_CARD", "王又曾", "1987-06-05", "A123456789", "M", "https://example.com/cb", "ref", "")
	f.Add("JPN", "PASSPORT", "", "", "", "", "", "", "data:image/png;base64,iVBORw0KGgo=")
	f.Add("", "x", "\x00", "1987-13-40", "", "Q", "javascript:alert(1)", "", "%%%")
	f.Fuzz(func(t *testing.T, country, idType, name, birthday, idNumber, gender, callback, ref, faceB64 string) {
		img := ImageFromBytes(testPNG(t, 400, 320))
		req := &CreateIDVRequest{Country: country, IDType: IDType(idType), IDImage: img, IDBackImage: img,
			FaceImage: ImageFromBase64(faceB64), ExpectedName: name, ExpectedBirthday: birthday,
			ExpectedIDNumber: idNumber, ExpectedGender: Gender(gender), CallbackURL: callback, CustomerReference: ref}
		client, rt := fuzzClient(t)
		_, err := client.IDV.Create(t.Context(), req)
		requireValidatedOrSent(t, err, rt)
	})
}

func FuzzInitWebIDVRequest(f *testing.F) {
	f.Add("ID_CARD", 100, "TWN", "ref", "en", "https://ok", "myapp://err", "1987-06-05", 0, "1070102", "65000")
	f.Add("", 0, "", "", "", "", "", "", -1, "", "")
	f.Fuzz(func(t *testing.T, idType string, workflow int, country, ref, locale, success, errURL, birthday string, applyCode int, applyDate, site string) {
		req := &InitWebIDVRequest{IDType: IDType(idType), WorkflowID: Workflow(workflow), Country: country,
			CustomerReference: ref, Locale: locale, SuccessURL: success, ErrorURL: errURL, ExpectedBirthday: birthday,
			TWIDApplyDate: applyDate, TWIDIssueSiteID: site}
		if applyCode >= 0 {
			req.TWIDApplyCode = &applyCode
		}
		client, rt := fuzzClient(t)
		_, err := client.IDV.InitWeb(t.Context(), req)
		requireValidatedOrSent(t, err, rt)
	})
}

func FuzzInitMobileIDVRequest(f *testing.F) {
	f.Add(0, "TWN", "ref", "王又曾", "1987-06-05", "https://example.com/cb", 1, "1070102", "65000")
	f.Add(4, "", "", "", "", "", -1, "", "")
	f.Fuzz(func(t *testing.T, workflow int, country, ref, name, birthday, callback string, applyCode int, applyDate, site string) {
		req := &InitMobileIDVRequest{WorkflowID: Workflow(workflow), Country: country, CustomerReference: ref,
			ExpectedName: name, ExpectedBirthday: birthday, CallbackURL: callback, TWIDApplyDate: applyDate, TWIDIssueSiteID: site}
		if applyCode >= 0 {
			req.TWIDApplyCode = &applyCode
		}
		client, rt := fuzzClient(t)
		_, err := client.IDV.InitMobile(t.Context(), req)
		requireValidatedOrSent(t, err, rt)
	})
}

func TestTWIDApplyCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		code int
		want int
	}{
		{"not issued", TWIDNotIssued, 0},
		{"initial issue", TWIDInitialIssue, 1},
		{"reissue", TWIDReissue, 2},
		{"change", TWIDChange, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.code, "the API's code")
			p := TWIDApplyCodeOf(tc.code)
			require.NotNil(t, p)
			assert.Equal(t, tc.want, *p)

			var v validator
			taiwanIDFields{p, "1090102", "10001"}.validate(&v, true, "TWN")
			assert.NoError(t, v.err())
			body, err := json.Marshal(InitWebIDVRequest{TWIDApplyCode: p})
			require.NoError(t, err)
			var sent map[string]any
			require.NoError(t, json.Unmarshal(body, &sent))
			assert.Equal(t, float64(tc.want), sent["tw_id_apply_code"], "sent, 0 included")
		})
	}
}

func TestTWIDApplyCodeOfReturnsAFreshPointer(t *testing.T) {
	t.Parallel()
	a, b := TWIDApplyCodeOf(TWIDReissue), TWIDApplyCodeOf(TWIDReissue)
	*a = TWIDChange
	assert.Equal(t, TWIDReissue, *b, "one request's code never changes another's")
}
