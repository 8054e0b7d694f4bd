package kryptogo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kyabc/kryptogo-go/internal/redact"
	"github.com/kyabc/kryptogo-go/internal/unorm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Personal values planted in every model and request of the printing test.
const (
	secretName     = "Wang Secretname"
	secretBirthday = "1987-06-05"
	secretIDNumber = "A123456789"
	secretRef      = "customer-ref-secret"
	secretToken    = "sdk-token-secret"
	secretURL      = "https://session.example/secret-session"
	secretComment  = "comment-secret"
)

// personalJSON is an answer that holds every personal value, so that the
// decoded models also keep them in their raw JSON.
var personalJSON = `{"task_id":9,"idv_task_id":16,"kya_id":5,"progress":40,"state":1,
"target":{"type":1,"name":"` + secretName + `","birthday":"` + secretBirthday + `"},
"expected_name":"` + secretName + `","full_name":"` + secretName + `","first_name":"` + secretName + `",
"birthday":"` + secretBirthday + `","expected_birthday":"` + secretBirthday + `",
"id_number":"` + secretIDNumber + `","expected_id_number":"` + secretIDNumber + `",
"customer_reference":"` + secretRef + `","creator_name":"` + secretName + `","creator_email":"` + secretRef + `",
"sdk_token":"` + secretToken + `","url":"` + secretURL + `","comment":"` + secretComment + `",
"report":{"url":"` + secretURL + `","comment":"` + secretComment + `","potential_risk":10},
"data":[{"task_id":9,"target":{"type":1,"name":"` + secretName + `"}}]}`

func decodePersonal[T any](t *testing.T) *T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(personalJSON), &v))
	return &v
}

// personalValues returns one value of every type that holds personal data,
// each filled with the planted values.
func personalValues(t *testing.T) (map[string]any, []byte) {
	img := testPNG(t, 400, 320)
	target := KYCTarget(secretName, secretBirthday, "TWN")
	accepted := true
	return map[string]any{
		"Target":            target,
		"CreateTaskRequest": CreateTaskRequest{SearchSettingID: 3, Target: target, CustomerReference: secretRef},
		"CreatedTask":       *decodePersonal[CreatedTask](t),
		"TaskReport":        TaskReport{URL: secretURL, Comment: secretComment, Accepted: &accepted},
		"TaskSummary":       *decodePersonal[TaskSummary](t),
		"TaskDetail":        *decodePersonal[TaskDetail](t),
		"SetAcceptedResult": *decodePersonal[SetAcceptedResult](t),
		"TaskPage":          *decodePersonal[TaskPage](t),
		"CreateIDVRequest": CreateIDVRequest{Country: "TWN", IDType: IDTypeIDCard, ExpectedName: secretName,
			ExpectedBirthday: secretBirthday, ExpectedIDNumber: secretIDNumber, CustomerReference: secretRef,
			IDImage: ImageFromBytes(img), FaceImage: ImageFromBase64(b64(img))},
		"CreatedIDV": *decodePersonal[CreatedIDV](t),
		"IDVTask":    *decodePersonal[IDVTask](t),
		"InitWebIDVRequest": InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "TWN",
			CustomerReference: secretRef, ExpectedName: secretName, ExpectedBirthday: secretBirthday, ExpectedIDNumber: secretIDNumber},
		"WebIDVSession": *decodePersonal[WebIDVSession](t),
		"InitMobileIDVRequest": InitMobileIDVRequest{Country: "TWN", CustomerReference: secretRef,
			ExpectedName: secretName, ExpectedBirthday: secretBirthday, ExpectedIDNumber: secretIDNumber},
		"MobileIDVSession": *decodePersonal[MobileIDVSession](t),
		"KYAResult":        *decodePersonal[KYAResult](t),
		"Image":            *ImageFromBytes(img),
		"Image(base64)":    *ImageFromBase64(b64(img)),
	}, img
}

// assertNoPersonalData fails if out holds a planted value, the image's
// bytes (as text, decimal or base64) or a raw JSON body.
func assertNoPersonalData(t *testing.T, out string, img []byte, msg string) {
	t.Helper()
	for _, secret := range []string{secretName, secretBirthday, secretIDNumber, secretRef, secretToken, secretURL, secretComment,
		b64(img)[:16], fmt.Sprint(img[:12])[1:20], string(img[1:4]),
		fmt.Sprint([]byte(`{"task_id"`))[1:20], // a raw JSON body printed as decimal bytes
	} {
		assert.NotContains(t, out, secret, msg)
	}
}

type nestedExported struct {
	Label string
	Value any
}

func TestPersonalDataNeverPrints(t *testing.T) {
	t.Parallel()
	values, img := personalValues(t)
	for name, v := range values {
		ptr := pointerTo(v)
		shapes := map[string]any{
			"value":              v,
			"pointer":            ptr,
			"in a struct":        nestedExported{"x", v},
			"pointer in struct":  nestedExported{"x", ptr},
			"in a slice":         []any{v, ptr},
			"in a map":           map[string]any{"k": v},
			"struct with fields": struct{ A, B any }{v, ptr},
		}
		for shape, operand := range shapes {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				out := fmt.Sprintf(verb, operand)
				assertNoPersonalData(t, out, img, name+" "+shape+" "+verb)
			}
		}
	}
}

// pointerTo returns a pointer to a copy of v, keeping its dynamic type.
func pointerTo(v any) any {
	switch v := v.(type) {
	case Target:
		return &v
	case CreateTaskRequest:
		return &v
	case CreatedTask:
		return &v
	case TaskReport:
		return &v
	case TaskSummary:
		return &v
	case TaskDetail:
		return &v
	case SetAcceptedResult:
		return &v
	case TaskPage:
		return &v
	case CreateIDVRequest:
		return &v
	case CreatedIDV:
		return &v
	case IDVTask:
		return &v
	case InitWebIDVRequest:
		return &v
	case WebIDVSession:
		return &v
	case InitMobileIDVRequest:
		return &v
	case MobileIDVSession:
		return &v
	case KYAResult:
		return &v
	case Image:
		return &v
	}
	panic(fmt.Sprintf("pointerTo: add %T", v))
}

func TestPersonalDataNeverLogs(t *testing.T) {
	t.Parallel()
	values, img := personalValues(t)
	for name, v := range values {
		for _, handler := range []string{"json", "text"} {
			t.Run(name+"/"+handler, func(t *testing.T) {
				var buf bytes.Buffer
				opts := &slog.HandlerOptions{Level: slog.LevelDebug}
				var h slog.Handler = slog.NewJSONHandler(&buf, opts)
				if handler == "text" {
					h = slog.NewTextHandler(&buf, opts)
				}
				logger := slog.New(h)
				logger.Debug("value", "v", v, "p", pointerTo(v))
				logger.Debug("group", slog.Group("g", "v", v))
				if handler == "text" {
					// slog resolves LogValuer only at an attribute's top level;
					// the JSON handler encodes a slice of models with
					// json.Marshal, whose output must keep every field.
					logger.Debug("slice", slog.Any("slice", []any{v, pointerTo(v)}))
				}
				logger.Info("attrs", slog.Any("v", v))
				assertNoPersonalData(t, buf.String(), img, name+" "+handler)
				require.NotEmpty(t, buf.String())
			})
		}
	}
}

// The printed and logged forms keep the ids and states that debugging needs.
func TestRedactedFormsKeepIDsAndStates(t *testing.T) {
	t.Parallel()
	values, _ := personalValues(t)
	for name, want := range map[string]string{
		"TaskSummary":       "TaskSummary{task_id: 9, target_type: KYC, progress: 40}",
		"IDVTask":           "IDVTask{idv_task_id: 16, state: Review, audit_status: }",
		"CreateIDVRequest":  "CreateIDVRequest{id_type: ID_CARD}",
		"KYAResult":         "KYAResult{kya_id: 5}",
		"TaskReport":        "TaskReport{accepted: accepted}",
		"CreateTaskRequest": "CreateTaskRequest{search_setting_id: 3, target_type: KYC, from_idv_id: 0}",
	} {
		t.Run(name, func(t *testing.T) {
			v := values[name]
			assert.Equal(t, want, fmt.Sprint(v), name)
			assert.Equal(t, want, fmt.Sprintf("%+v", pointerTo(v)), name)
			assert.Equal(t, fmt.Sprintf("%q", want), fmt.Sprintf("%q", v), name)
		})
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("done", "task", values["IDVTask"])
	assert.Contains(t, buf.String(), `"task":{"idv_task_id":16,"state":"Review","audit_status":""}`)
	assert.Equal(t, "Image(file)", fmt.Sprint(*ImageFromFile("/secret/dir/passport.jpg")))
	assert.True(t, strings.HasPrefix(fmt.Sprint(values["Image"]), "Image("))
}

// Printing never touches the fields or the JSON: both keep every value.
func TestRedactionKeepsFieldsAndJSON(t *testing.T) {
	t.Parallel()
	sum := decodePersonal[TaskSummary](t)
	assert.Equal(t, secretName, sum.Target.Name)
	assert.Contains(t, string(sum.RawJSON()), secretName)
	out, err := json.Marshal(sum)
	require.NoError(t, err)
	assert.Contains(t, string(out), secretName)
	assert.Contains(t, string(out), secretBirthday)
}

// Issue 15, row 7: slog asks only the top-level value of an attribute for
// its LogValue, and a type whose LogValue has a pointer receiver is logged
// by value through its fields (the JSON handler marshals them, every
// personal value included). Every exported type that carries personal data
// logs safely by value and by pointer, through both handlers.

// carriers returns one value of every exported type that holds personal
// data without being a model itself (the models are in
// TestPersonalDataNeverLogs), filled with the planted values and the key.
func carriers(t *testing.T) map[string]any {
	task := decodePersonal[TaskSummary](t)
	idv := decodePersonal[IDVTask](t)
	kya := decodePersonal[KYAResult](t)
	return map[string]any{
		"CallbackEvent(task)": CallbackEvent{Kind: CallbackTask, Task: task, CustomerReference: "c-1"},
		"CallbackEvent(idv)":  CallbackEvent{Kind: CallbackIDV, IDV: idv},
		"WaitError(task)":     WaitError{ID: 9, Polls: 3, LastTask: task, Err: errors.New("boom"), kind: "task"},
		"WaitError(idv)":      WaitError{ID: 16, Polls: 3, LastIDV: idv, Err: errors.New("boom"), kind: "IDV task"},
		"ScreenResult":        ScreenResult{Request: CreateKYARequest{Address: secretName}, Result: kya},
		"ScreenResult(error)": ScreenResult{Request: CreateKYARequest{Address: secretName}, Err: errors.New("boom")},
	}
}

// pointerToAny returns a pointer to a copy of v, keeping its dynamic type.
func pointerToAny(v any) any {
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	return p.Interface()
}

func TestCarriersLogNoPersonalData(t *testing.T) {
	t.Parallel()
	for name, v := range carriers(t) {
		for _, shape := range []string{"value", "pointer"} {
			for _, handler := range []string{"json", "text"} {
				t.Run(name+"/"+shape+"/"+handler, func(t *testing.T) {
					t.Parallel()
					var buf bytes.Buffer
					opts := &slog.HandlerOptions{Level: slog.LevelDebug}
					var h slog.Handler = slog.NewJSONHandler(&buf, opts)
					if handler == "text" {
						h = slog.NewTextHandler(&buf, opts)
					}
					operand := v
					if shape == "pointer" {
						operand = pointerToAny(v)
					}
					logger := slog.New(h)
					logger.Info("event", "v", operand)
					logger.Info("group", slog.Group("g", "v", operand))
					logger.With("v", operand).Info("with")
					out := buf.String()
					require.NotEmpty(t, out)
					assert.NotContains(t, out, "LogValue panicked")
					for _, secret := range []string{secretName, secretBirthday, secretIDNumber, secretToken, secretURL, secretComment, testKey} {
						assert.NotContains(t, out, secret)
					}
				})
			}
		}
	}
}

// The logged forms keep what debugging needs: ids, states, the cause.
func TestCarriersLogTheirIDs(t *testing.T) {
	t.Parallel()
	c := carriers(t)
	for name, want := range map[string]string{
		"CallbackEvent(task)": `"v":{"kind":"task","id":9,"key":"task:9:`,
		"WaitError(task)":     `"v":{"id":9,"kind":"task","polls":3,"last_progress":40,"error":"boom"}`,
		"WaitError(idv)":      `"v":{"id":16,"kind":"IDV task","polls":3,"last_state":"Review","error":"boom"}`,
		"ScreenResult":        `"v":{"result":{"kya_id":5}}`,
		"ScreenResult(error)": `"v":{"error":"boom"}`,
	} {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", c[name])
		assert.Contains(t, buf.String(), want, name)
	}
}

// Issue 15, row 6: a 400 that echoes the request's personal values in
// another spelling than the one sent (another letter case, decomposed,
// the birthday in another date format, the key in hex or wrapped base64,
// an image's base64 wrapped or URL-escaped) must be masked by meaning.

// The personal values of the spelling test: a name whose composed (NFC)
// and decomposed (NFD) forms differ, a birthday, an ID number.
const (
	spellName     = "Renée Zoë Lindqvist"
	spellBirthday = "1985-01-31"
	spellIDNumber = "A123456789"
)

// spellImage is 3 KiB of noise: 4,096 characters of base64.
func spellImage() []byte {
	rng := rand.New(rand.NewPCG(6, 15))
	img := make([]byte, 3<<10)
	for i := range img {
		img[i] = byte(rng.UintN(256))
	}
	return img
}

// wrap cuts s into lines of n characters joined by eol.
func wrap(s string, n int, eol string) string {
	var lines []string
	for len(s) > n {
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return strings.Join(append(lines, s), eol)
}

// urlEscapeBase64 escapes the base64 characters a URL query escapes.
func urlEscapeBase64(s string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s)
}

// spelling is one way a server echoes a value.
type spelling struct {
	name string
	echo string
	// hidden is the text that must not survive (echo when empty); for a
	// base64 or hex spelling, no run of 16 of its characters may.
	hidden  string
	encoded bool
}

func echoSpellings() []spelling {
	keyHeader := "GOFACT-API-TOKEN: " + testKey
	keyB64 := base64.StdEncoding.EncodeToString([]byte(keyHeader))
	// the characters that encode the key's bytes alone (the header's name
	// is no secret)
	keyRun := keyB64[(len(keyHeader)-len(testKey)+2)/3*4 : len(keyHeader)/3*4]
	img := base64.StdEncoding.EncodeToString(spellImage())
	return []spelling{
		{name: "name as sent", echo: spellName},
		{name: "name upper case", echo: strings.ToUpper(spellName)},
		{name: "name lower case", echo: strings.ToLower(spellName)},
		{name: "name decomposed (NFD)", echo: unorm.NFD(spellName)},
		{name: "name decomposed, upper case", echo: strings.ToUpper(unorm.NFD(spellName))},
		{name: "name URL-escaped, lower-case hex", echo: strings.ToLower(url.QueryEscape(spellName)), hidden: url.QueryEscape(spellName)},
		{name: "birthday as sent", echo: spellBirthday},
		{name: "birthday 1985/01/31", echo: "1985/01/31"},
		{name: "birthday 19850131", echo: "19850131"},
		{name: "birthday 31/01/1985", echo: "31/01/1985"},
		{name: "birthday 1985.01.31", echo: "1985.01.31"},
		{name: "birthday 01/31/1985", echo: "01/31/1985"},
		{name: "birthday 31.01.1985", echo: "31.01.1985"},
		{name: "birthday 31 Jan 1985", echo: "31 Jan 1985"},
		{name: "birthday January 31, 1985", echo: "January 31, 1985"},
		{name: "ID number lower case", echo: strings.ToLower(spellIDNumber)},
		{name: "key as sent", echo: testKey},
		{name: "key upper case", echo: strings.ToUpper(testKey)},
		{name: "key lower case", echo: strings.ToLower(testKey)},
		{name: "key in hex", echo: hex.EncodeToString([]byte(testKey)), encoded: true},
		{name: "key in upper-case hex", echo: strings.ToUpper(hex.EncodeToString([]byte(testKey))), encoded: true},
		{name: "key in base64", echo: base64.StdEncoding.EncodeToString([]byte(testKey)), encoded: true},
		{name: "key header in MIME base64 (76, CRLF)", echo: wrap(keyB64, 76, "\r\n"), hidden: keyRun, encoded: true},
		{name: "key header in PEM base64 (64, LF)", echo: wrap(keyB64, 64, "\n"), hidden: keyRun, encoded: true},
		{name: "key header in base64 wrapped at 16", echo: wrap(keyB64, 16, "\r\n"), hidden: keyRun, encoded: true},
		{name: "key header in URL-escaped base64", echo: urlEscapeBase64(keyB64), hidden: keyRun, encoded: true},
		{name: "image in base64", echo: img, encoded: true},
		{name: "image in MIME base64 (76, CRLF)", echo: wrap(img, 76, "\r\n"), hidden: img, encoded: true},
		{name: "image in PEM base64 (64, LF)", echo: wrap(img, 64, "\n"), hidden: img, encoded: true},
		{name: "image in base64 spaced every 4", echo: wrap(img, 4, " "), hidden: img, encoded: true},
		{name: "image in URL-escaped base64", echo: urlEscapeBase64(img), hidden: img, encoded: true},
	}
}

// lookalikes are ordinary texts that resemble the secrets without being
// them: the masking must leave them whole.
var lookalikes = []string{
	"Renée Zoë Lindgren", "Lindqvist", "another birthday 1985-01-13, 1985-13-01 and 31/01/1986",
	"A123456780", "sk-test-7f3a9c1e-public-KEY",
	"0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 0x2f3c1e4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
	"0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060\n0x2f3c1e4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
	"request 3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b failed; retry later",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
	"The target was screened against every list the account subscribes to and no match was found. " +
		"Review the sources in the report, then accept or reject the task from the console or through the API. " +
		"Support can help with questions about a specific result or about the search settings in use today.",
	"The target was screened against every list the account subscribes to and no match was found.\r\n" +
		"Review the sources in the report, then accept or reject the task from the console or through the API.\r\n" +
		"Support can help with questions about a specific result or about the search settings in use today.",
}

// spellingOutputs makes one call whose 400 answer echoes echo in its body
// and in a header, and returns every text the caller can see: Error(),
// %+v, APIError.Body and Message, ResponseInfo.Header, the log record.
func spellingOutputs(t *testing.T, echo string) map[string]string {
	t.Helper()
	return spellingOutputsFor(t, echoPerson{spellName, spellBirthday, spellIDNumber, ""}, echo)
}

// echoPerson is the personal values an IDV request sends; with
// twApplyDate, a Taiwanese ID card's (the Taiwan ID add-on).
type echoPerson struct{ name, birthday, idNumber, twApplyDate string }

// spellingOutputsFor is spellingOutputs for a request that sends p.
func spellingOutputsFor(t *testing.T, p echoPerson, echo string) map[string]string {
	t.Helper()
	c, mux := setup(t, WithMaxRetries(0))
	logger, logs := debugJSONLogger()
	c.cfg.logger = logger
	headerEcho := strings.NewReplacer("\r\n", " ", "\n", " ").Replace(echo)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Echo", headerEcho)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":4001,"message":`+jsonString("rejected: "+echo)+`}`)
	})
	var info ResponseInfo
	req := &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: WorkflowIDOnly,
		CustomerReference: "c-1", ExpectedName: p.name, ExpectedBirthday: p.birthday, ExpectedIDNumber: p.idNumber}
	if p.twApplyDate != "" {
		req.IDType, req.TWIDApplyCode, req.TWIDApplyDate, req.TWIDIssueSiteID = IDTypeIDCard, TWIDApplyCodeOf(TWIDReissue), p.twApplyDate, "10001"
	}
	_, err := c.IDV.InitWeb(t.Context(), req, WithResponseInfo(&info))
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	return map[string]string{
		"Error()":             err.Error(),
		"%+v":                 fmt.Sprintf("%+v", err),
		"APIError.Body":       string(apiErr.Body),
		"APIError.Message":    apiErr.Message,
		"ResponseInfo.Header": strings.Join(info.Header.Values("X-Echo"), "\n"),
		"log record":          logs.String(),
	}
}

// normalised undoes the spellings a reader can undo at a glance: JSON
// escapes of line breaks, URL escapes of base64, and white space.
func normalised(s string) string {
	s = strings.NewReplacer(`\r`, "", `\n`, "", `\/`, "/", `\u0026`, "&").Replace(s)
	s = strings.NewReplacer("%2B", "+", "%2F", "/", "%3D", "=", "%2b", "+", "%2f", "/", "%3d", "=").Replace(s)
	return strings.Join(strings.Fields(s), "")
}

// TestEchoSpellingsMasked: each spelling of the name, birthday, ID number,
// key and image is masked in every output; each lookalike survives whole.
func TestEchoSpellingsMasked(t *testing.T) {
	t.Parallel()
	for _, sp := range echoSpellings() {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			hidden := sp.hidden
			if hidden == "" {
				hidden = sp.echo
			}
			for where, out := range spellingOutputs(t, sp.echo) {
				assert.NotContains(t, out, sp.echo, where)
				assert.NotContains(t, out, hidden, where)
				if sp.encoded {
					flat := normalised(out)
					for i := 0; i+16 <= len(hidden); i += 4 {
						if strings.Contains(flat, hidden[i:i+16]) {
							t.Errorf("%s: %q of the encoded value survives", where, hidden[i:i+16])
							break
						}
					}
				}
			}
		})
	}
	for i, text := range lookalikes {
		t.Run(fmt.Sprintf("lookalike %d", i), func(t *testing.T) {
			t.Parallel()
			outs := spellingOutputs(t, text)
			oneLine := strings.Join(strings.Fields(text), " ") // as the message keeps it
			assert.Contains(t, outs["APIError.Message"], oneLine, "the message keeps an ordinary text")
			assert.Contains(t, outs["Error()"], oneLine)
			assert.Contains(t, outs["ResponseInfo.Header"], strings.NewReplacer("\r\n", " ", "\n", " ").Replace(text))
			assert.NotContains(t, outs["APIError.Body"], "[", "nothing masked or withheld in the body")
		})
	}
}

// TestShortValuesAreNotMasked: a value of one or two bytes (a name such as
// "Li") is not masked, as documented: it occurs inside ordinary words.
func TestShortValuesAreNotMasked(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(0))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message":"Li: a name of two letters; Lindqvist, Lima"}`)
	})
	_, err := c.IDV.InitWeb(t.Context(), &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: WorkflowIDOnly,
		CustomerReference: "c-1", ExpectedName: "Li"})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "Li: a name of two letters; Lindqvist, Lima", apiErr.Message)
}

// Tests that no error or log record of the request path carries the API key
// or a personal value the request sent (issue 8, transport and echo leaks).

// printed is every printing of the values a user might log.
func printed(vs ...any) string {
	var b strings.Builder
	for _, v := range vs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			fmt.Fprintf(&b, verb+"\n", v)
		}
	}
	return b.String()
}

// Review of issue 8, finding 1: net/http quotes a malformed answer in its
// error ("malformed HTTP response \"<key>\""), and the client passed that
// text on to errors and debug logs.
func TestTransportErrorsNeverCarryTheKey(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]string{
		"status line":            testKey + "\r\n\r\n",
		"status code":            "HTTP/1.1 " + testKey + " OK\r\n\r\n",
		"header line":            "HTTP/1.1 200 OK\r\nX-Debug-Token " + testKey + "\r\n\r\n",
		"version":                "HTTP/" + testKey + " 200 OK\r\n\r\n",
		"content-length":         "HTTP/1.1 200 OK\r\nContent-Length: " + testKey + "\r\n\r\n",
		"transfer-encoding":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + testKey + "\r\n\r\n",
		"chunk size":             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + testKey + "\r\n",
		"header name with space": "HTTP/1.1 200 OK\r\nRequest Header GOFACT-API-TOKEN: " + testKey + "\r\n\r\n",
		"echo server":            "GET /task/1/summary HTTP/1.1\r\nGOFACT-API-TOKEN: " + testKey + "\r\n\r\n",
		"double length":          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: " + testKey + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			url := rawServer(t, func(c net.Conn) { _, _ = io.WriteString(c, reply) })
			logger, logs := debugJSONLogger()
			c, err := NewClient(testKey, WithBaseURL(url), WithLogger(logger), WithMaxRetries(0))
			require.NoError(t, err)
			_, getErr := c.Tasks.Summary(t.Context(), 1)
			_, postErr := c.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
			require.Error(t, getErr)
			require.Error(t, postErr)
			assertNoKey(t, printed(getErr, postErr), testKey)
			assertNoKey(t, logs.String(), testKey)
		})
	}
}

// Review of issue 8, finding 4: validation messages quoted the values they
// rejected (a birthday, a country, a gender), and validation errors are
// logged. They say what is expected instead.
func TestValidationErrorsQuoteNoValues(t *testing.T) {
	t.Parallel()
	c := offlineClient(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		call   func() error
		values []string
	}{
		{"task target", func() error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget("John Doe", "1987/07/14", "Taiwan")}})
			return err
		}, []string{"1987/07/14", "Taiwan"}},
		{"IDV create", func() error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "jpn", IDType: "VISA", ExpectedName: "John Doe",
				ExpectedBirthday: "14.07.1987", ExpectedIssuingDate: "2019-13-01", ExpectedExpiryDate: "31/12/2030", ExpectedGender: "Male"})
			return err
		}, []string{"14.07.1987", "2019-13-01", "31/12/2030", "Male", "jpn", "VISA"}},
		{"IDV web", func() error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{Country: "Formosa", IDType: IDTypeIDCard, WorkflowID: 100,
				ExpectedBirthday: "1987-7-14", CustomerReference: "c1", Locale: "klingon",
				TWIDApplyCode: ptr(1), TWIDApplyDate: "1071399", TWIDIssueSiteID: "77777"})
			return err
		}, []string{"1987-7-14", "Formosa", "klingon", "1071399", "77777"}},
		{"IDV mobile", func() error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", ExpectedBirthday: "07/14/1987",
				TWIDApplyCode: ptr(1), TWIDApplyDate: "87-7-14", TWIDIssueSiteID: "10001"})
			return err
		}, []string{"07/14/1987", "87-7-14"}},
		{"KYA address", func() error {
			_, err := c.KYA.Create(ctx, &CreateKYARequest{Address: "my-wallet-john-doe"})
			return err
		}, []string{"my-wallet-john-doe"}},
		{"Do path", func() error { return c.Do(ctx, "GET", "tasks?customer_reference=john.doe", nil, nil) }, []string{"john.doe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, ErrInvalidRequest)
			out := printed(err)
			for _, v := range tc.values {
				assert.NotContains(t, out, v)
			}
		})
	}
}

// Review of issue 8, finding 8: a 400 that echoes the submitted name or
// birthday carried it into APIError.Message, Body and Error(). The SDK
// masks the personal values it just sent, in every spelling it knows.
func TestAPIErrorMasksThePersonalValuesSent(t *testing.T) {
	t.Parallel()
	const name, birthday, idNumber = "John Doe", "1990-01-02", "A123456789"
	face := testPNG(t, 400, 400)
	calls := map[string]func(context.Context, *Client) error{
		"Tasks.Create": func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Acme")},
				{SearchSettingID: 1, Target: KYCTarget(name, birthday, "TWN")}})
			return err
		},
		"IDV.Create": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "JPN", IDType: IDTypePassport, IDImage: ImageFromBytes(face),
				FaceImage: ImageFromBytes(face), ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
		"IDV.InitWeb": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: 100, CustomerReference: "c1",
				ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
		"IDV.InitMobile": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
	}
	echoes := map[string]string{
		"JSON":         `{"code":4001,"message":"target \"John Doe\" (birthday 1990-01-02, id A123456789) is on a watch list"}`,
		"JSON escaped": `{"message":"target \u004Aohn\u0020Doe, 1990\u002d01\u002d02, \u0041123456789"}`,
		"HTML":         `<html><title>John&#32;Doe 1990&#x2d;01-02 &#65;123456789</title></html>`,
		"URL escaped":  `bad target John%20Doe 1990-01-02 A123456789`,
	}
	for callName, call := range calls {
		for echoName, echo := range echoes {
			t.Run(callName+"/"+echoName, func(t *testing.T) {
				c, mux := setup(t, WithMaxRetries(0))
				logger, logs := debugJSONLogger()
				c.cfg.logger = logger
				mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, echo)
				})
				err := call(t.Context(), c)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				out := printed(err) + apiErr.Message + string(apiErr.Body) + logs.String()
				sent := []string{name, birthday, idNumber}
				if callName == "Tasks.Create" {
					sent = sent[:2] // a task sends no ID number, so the SDK cannot know it
				}
				for _, form := range decodedForms(out) {
					for _, v := range sent {
						assert.NotContains(t, form, v)
					}
				}
			})
		}
	}
}

// TestServiceBodiesWithoutPersonalValues guards the empty personalValues
// of CreateKYARequest, SetAcceptedRequest and metadataPairs: their bodies
// hold none of the keys Do would find personal values under either, so a
// body masks the same whether a service method or Do sends it.
func TestServiceBodiesWithoutPersonalValues(t *testing.T) {
	t.Parallel()
	bodies := map[string]personalData{
		"KYA.Create":  CreateKYARequest{Address: "0x742d35Cc6634C0532925a3b844Bc454e4438f44e", Chain: ChainETH},
		"SetAccepted": SetAcceptedRequest{Comment: "Jane Doe checked", Accepted: true},
		"SetMetadata": metadataPairs{{Key: "name", Value: "Jane Doe"}},
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Empty(t, body.personalValues())
			encoded, err := json.Marshal(body)
			require.NoError(t, err)
			assert.Empty(t, personalValuesInJSON(encoded))
		})
	}
}

// A request of the SDK given to Do names its own personal values, as it
// does for its service method: a batch of tasks its targets' names and
// birthdays, whatever keys its JSON holds.
func TestDoBodiesNameTheirPersonalValues(t *testing.T) {
	t.Parallel()
	tasks := taskBatch{{SearchSettingID: 1, Target: KYCTarget("Jane Doe", "1990-06-21", "TWN")}, {SearchSettingID: 1, Target: KYBTarget("Acme Ltd")}}
	for name, tc := range map[string]struct {
		body any
		want []string
	}{
		"batch of tasks":      {tasks, []string{"Jane Doe", "1990-06-21", "Acme Ltd"}},
		"one task":            {tasks[0], []string{"Jane Doe", "1990-06-21"}},
		"web IDV session":     {&InitWebIDVRequest{ExpectedName: "Jane Doe", TWIDIssueSiteID: "10001"}, []string{"Jane Doe", "10001"}},
		"a map of the caller": {map[string]any{"target": map[string]any{"name": "Jane Doe"}}, []string{"Jane Doe"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := jsonBody(tc.body)
			require.NoError(t, err)
			assert.ElementsMatch(t, tc.want, body.personalValues())
		})
	}
}

// TestCallMaskReach checks that the reach found from the secrets' lengths
// is the reach of the scrubber the call would build: bodyLimit reads an
// error answer this far past its cap so that masking sees every spelling
// that straddles the cut.
func TestCallMaskReach(t *testing.T) {
	t.Parallel()
	c, err := NewClient(testKey)
	require.NoError(t, err)
	cases := map[string][]string{
		"none":          nil,
		"too short":     {"Al", "  Bo  "},
		"shorter":       {"Jane Doe"},
		"longer":        {strings.Repeat("Jane Doe ", 20)},
		"padded":        {"  Jo  ", "1990-01-01"},
		"several, mix":  {"A", "Jane Doe", strings.Repeat("x", 300), "1990-01-01"},
		"unicode":       {"王小明先生的名字"},
		"blank":         {"   "},
		"empty and key": {"", testKey},
	}
	for name, personal := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := c.scrubber(personal).m.Reach()
			mask := &callMask{c: c, personal: personal}
			assert.Equal(t, want, mask.reach())
			assert.Nil(t, mask.built.m, "reach must not build the scrubber")
		})
	}
}

// Attack on issue 15's echo masking: its cost. net/http quotes a malformed
// header line whole in its error (it accepts up to 10 MiB of headers), and
// ResponseInfo masks every header value of an answer. The SDK masked all
// of it, node by node of the error's chain, each text in a dozen decoded
// layers: one answer of 9 MiB cost about 2 s of CPU and 270-690 MiB of
// allocation, and the error kept a 9 MiB text. What a malicious server
// sends must cost the SDK about what it costs net/http itself.
//
// These tests compare allocation (bytes, counted by the runtime), not
// time: they are not parallel, so that nothing else allocates meanwhile.

// allocatedBy returns the bytes the process allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bombServer answers every request with answer, built once.
func bombServer(t *testing.T, answer []byte) string {
	t.Helper()
	return rawServer(t, func(c net.Conn) { _, _ = c.Write(answer) })
}

// TestMalformedAnswerCostsWhatNetHTTPCosts: a malformed header line of
// 8 MiB, echoing the key at its start and full of escapes, costs the SDK
// at most a few MiB more than it costs a plain net/http client, and the
// error's text stays short and masked.
func TestMalformedAnswerCostsWhatNetHTTPCosts(t *testing.T) {
	line := testKey + " " + chainName + " " + strings.Repeat(`&amp;amp;#x5c;\\u0026%2525`, 8<<20/26)
	base := bombServer(t, []byte("HTTP/1.1 200 OK\r\n"+line+"\r\n\r\n"))
	plain := &http.Client{Transport: defaultTransport()}
	t.Cleanup(plain.CloseIdleConnections)
	byNetHTTP := allocatedBy(func() {
		resp, err := plain.Get(base + "/task/1/summary")
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err)
	})

	c, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
	require.NoError(t, err)
	var sdkErr error
	bySDK := allocatedBy(func() { _, sdkErr = c.Tasks.Create(t.Context(), chainTarget()) })
	require.Error(t, sdkErr)

	t.Logf("net/http %d MiB, SDK %d MiB, error text %d bytes: %.300s", byNetHTTP>>20, bySDK>>20, len(sdkErr.Error()), sdkErr)
	assert.LessOrEqual(t, bySDK, byNetHTTP+8<<20, "the SDK's masking costs a few MiB at most")
	assert.LessOrEqual(t, len(sdkErr.Error()), 16<<10, "an error's text is bounded")
	for _, node := range chainNodes(sdkErr) {
		assert.LessOrEqual(t, len(node.Error()), 16<<10, "%T", node)
	}
	assert.Contains(t, sdkErr.Error(), "malformed", "the text still says what went wrong")
	assertAbsent(t, chainExposure(sdkErr), testKey, chainName)
}

// TestResponseInfoHeadersCostBounded: an answer with 8 MiB of headers
// costs the SDK about as much with WithResponseInfo as without; the
// short headers are kept (masked), the ones past the bound are marked.
func TestResponseInfoHeadersCostBounded(t *testing.T) {
	var answer strings.Builder
	answer.WriteString("HTTP/1.1 400 Bad Request\r\nX-Request-Id: req-" + testKey + "\r\nRetry-After: 7\r\n")
	for i := range 2000 {
		fmt.Fprintf(&answer, "X-Pad-%d: %s %s\r\n", i, chainName, strings.Repeat("&amp;", 4<<10/5))
	}
	answer.WriteString("Connection: close\r\nContent-Length: 2\r\n\r\n{}")
	base := bombServer(t, []byte(answer.String()))

	c, err := NewClient(testKey, WithBaseURL(base), WithMaxRetries(0))
	require.NoError(t, err)
	call := func(opts ...Option) {
		_, err := c.Tasks.Create(t.Context(), chainTarget(), opts...)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
	}
	var info ResponseInfo
	without := allocatedBy(func() { call() })
	with := allocatedBy(func() { call(WithResponseInfo(&info)) })

	t.Logf("without ResponseInfo %d MiB, with %d MiB", without>>20, with>>20)
	assert.LessOrEqual(t, with, without+4<<20, "masking the headers costs a few MiB at most")
	assert.Equal(t, "7", info.Header.Get("Retry-After"), "short headers are kept")
	assert.Equal(t, "req-"+redact.Mask, info.RequestID)
	var all strings.Builder
	withheldPads := 0
	for name, values := range info.Header {
		all.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
		if strings.HasPrefix(name, "X-Pad-") && strings.Contains(values[0], "withheld") {
			withheldPads++
		}
	}
	assert.GreaterOrEqual(t, len(info.Header), 2000+2, "every header is named")
	assert.Positive(t, withheldPads, "the headers past the bound say so")
	assertAbsent(t, all.String(), testKey, chainName)
}

// TestAPIErrorReadsTheHeadOfALongDeclaredBody: an error page longer than
// the error window, with a Content-Length (a load balancer's static
// maintenance page), is read up to the window, as one of unknown length
// is: its message and the first 64 KiB of its body are kept. It was not
// read at all.
func TestAPIErrorReadsTheHeadOfALongDeclaredBody(t *testing.T) {
	t.Parallel()
	page := "<html><head><title>Maintenance until 12:00 UTC</title></head><body>" +
		strings.Repeat("<p>We are upgrading.</p>", 100<<10/24) + "</body></html>"
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprint("declared=", declared), func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithMaxRetries(0))
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", fmt.Sprint(len(page)))
				}
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, page)
			})
			_, err := c.Tasks.Summary(t.Context(), 1)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "HTML page: Maintenance until 12:00 UTC", apiErr.Message)
			assert.Len(t, apiErr.Body, maxErrorBody)
			assert.Equal(t, page[:maxErrorBody], string(apiErr.Body))
		})
	}
}

// Attack on issue 15's echo masking by meaning: spellings a server
// produces from the promised ones that got through.
//
//   - base64 wrapped and then escaped: URL-escaped line breaks (%0D%0A, as
//     url.QueryEscape writes a wrapped text), HTML line breaks (&#10;),
//     indented lines (a line break and more than four spaces), JSON's
//     \u000a, a JSON text quoted in another (\\r\\n);
//   - letter case the way servers change it: Python, JavaScript and Java
//     upper-case "ß" as "SS"; Go, Python and Java upper-case the Turkish
//     dotless "ı" as "I", and Go lower-cases "İ" as a plain "i";
//   - white space: a name echoed with its spaces doubled, as no-break
//     spaces or tabs, or trimmed of the spaces the request sent;
//   - full-width forms (Ｊｏｈｎ, Ａ１２３), which East Asian systems write
//     for Latin letters and digits;
//   - dates as a Taiwanese service writes them: the ROC calendar the API
//     itself uses for tw_id_apply_date (1100101), and CJK dates.
//
// Each must be masked wherever the caller can see it, like the spellings
// of TestEchoSpellingsMasked; the lookalikes must be left whole.

// fullWidth spells s's ASCII letters and digits in their full-width forms.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7F {
			return r + 0xFEE0
		}
		return r
	}, s)
}

func TestEchoSpellingsAttackMasked(t *testing.T) {
	t.Parallel()
	img := base64.StdEncoding.EncodeToString(spellImage())
	keyB64 := base64.StdEncoding.EncodeToString([]byte("GOFACT-API-TOKEN: " + testKey))
	keyRun := keyB64[(len("GOFACT-API-TOKEN: ")+2)/3*4 : len("GOFACT-API-TOKEN: "+testKey)/3*4]
	renee := echoPerson{spellName, spellBirthday, spellIDNumber, ""}
	strauss := echoPerson{"Johann Straußberger", spellBirthday, spellIDNumber, ""}
	yilmaz := echoPerson{"İlker Yılmaz", spellBirthday, spellIDNumber, ""}
	padded := echoPerson{"  Renée Zoë Lindqvist ", spellBirthday, " A123456789 ", ""}
	taiwan := echoPerson{"Chen Mei-Ling", "1990-05-17", "A223456789", "1100101"}
	for _, tc := range []struct {
		name    string
		person  echoPerson
		echo    string
		hidden  string // what must not survive (echo when empty)
		encoded bool   // no 16 characters of hidden may survive either
	}{
		{name: "image in MIME base64, URL-escaped", person: renee, echo: url.QueryEscape(wrap(img, 76, "\r\n")), hidden: img, encoded: true},
		{name: "image in PEM base64, indented", person: renee, echo: wrap(img, 64, "\n        "), hidden: img, encoded: true},
		{name: "image in base64 wrapped with JSON \\u000a", person: renee, echo: wrap(img, 76, `\u000a`), hidden: img, encoded: true},
		{name: "image in base64 quoted twice in JSON", person: renee, echo: wrap(img, 76, `\\r\\n`), hidden: img, encoded: true},
		{name: "image in base64 with HTML line breaks", person: renee, echo: wrap(img, 76, "&#13;&#10;"), hidden: img, encoded: true},
		{name: "key header in base64, URL-escaped", person: renee, echo: url.QueryEscape(wrap(keyB64, 16, "\n")), hidden: keyRun, encoded: true},
		{name: "key header in base64 with HTML line breaks", person: renee, echo: wrap(keyB64, 16, "&#10;"), hidden: keyRun, encoded: true},
		{name: "key header in base64, indented", person: renee, echo: wrap(keyB64, 12, "\r\n          "), hidden: keyRun, encoded: true},
		{name: "ß upper-cased as SS", person: strauss, echo: "JOHANN STRAUSSBERGER", hidden: "STRAUSSBERGER"},
		{name: "ß in another case", person: strauss, echo: "johann straussberger", hidden: "straussberger"},
		{name: "ß as capital ẞ", person: strauss, echo: "JOHANN STRAUẞBERGER", hidden: "STRAUẞBERGER"},
		{name: "dotless ı upper-cased", person: yilmaz, echo: "İLKER YILMAZ", hidden: "YILMAZ"},
		{name: "İ lower-cased by Go", person: yilmaz, echo: strings.ToLower("İlker Yılmaz"), hidden: "lker y"},
		{name: "İ and ı ASCII-folded", person: yilmaz, echo: "ILKER YILMAZ", hidden: "LKER YILMAZ"},
		{name: "name with doubled spaces", person: renee, echo: "Renée  Zoë   Lindqvist", hidden: "Zoë   Lindqvist"},
		{name: "name with no-break spaces", person: renee, echo: "Renée\u00a0Zoë\u00a0Lindqvist", hidden: "Zoë\u00a0Lindqvist"},
		{name: "name with tabs", person: renee, echo: "Renée\tZoë\tLindqvist", hidden: "Zoë\tLindqvist"},
		{name: "name with HTML no-break spaces", person: renee, echo: "Renée&nbsp;Zoë&nbsp;Lindqvist", hidden: "Zo"},
		{name: "name sent with spaces around, echoed trimmed", person: padded, echo: "Renée Zoë Lindqvist", hidden: "Zoë Lindqvist"},
		{name: "ID number sent with spaces around, echoed trimmed", person: padded, echo: "[A123456789]", hidden: "A123456789"},
		{name: "name in full-width letters", person: renee, echo: fullWidth("RENÉE ZOË LINDQVIST"), hidden: fullWidth("LINDQVIST")},
		{name: "ID number in full-width", person: renee, echo: fullWidth(spellIDNumber), hidden: fullWidth("123456789")},
		// Dates as a Taiwanese service writes them: the API's own ROC form
		// (tw_id_apply_date 1100101 is 2021-01-01), with separators or as
		// the Gregorian date, and CJK dates.
		{name: "ROC apply date as the Gregorian date", person: taiwan, echo: "issued 2021-01-01", hidden: "2021-01-01"},
		{name: "ROC apply date with slashes", person: taiwan, echo: "issued 110/01/01", hidden: "110/01/01"},
		{name: "ROC apply date in CJK", person: taiwan, echo: "民國110年1月1日", hidden: "110年1月1日"},
		{name: "birthday in CJK", person: renee, echo: "1985年01月31日", hidden: "1985年01月31日"},
		{name: "birthday in CJK, not padded", person: renee, echo: "1985年1月31日", hidden: "1985年1月31日"},
		{name: "birthday as an ROC date", person: renee, echo: "民國74年1月31日", hidden: "74年1月31日"},
		{name: "birthday as an ROC date with slashes", person: renee, echo: "074/01/31", hidden: "074/01/31"},
		{name: "birthday as a 7-digit ROC date", person: renee, echo: "0740131", hidden: "0740131"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hidden := tc.hidden
			if hidden == "" {
				hidden = tc.echo
			}
			for where, out := range spellingOutputsFor(t, tc.person, tc.echo) {
				assert.NotContains(t, out, hidden, where)
				if tc.encoded {
					flat := normalised(strings.NewReplacer("%0D", "", "%0A", "", "&#13;", "", "&#10;", "", `\u000a`, "", `\\r\\n`, "", `\`, "").Replace(out))
					for i := 0; i+16 <= len(hidden); i += 4 {
						if strings.Contains(flat, hidden[i:i+16]) {
							t.Errorf("%s: %q of the encoded value survives: %.200s", where, hidden[i:i+16], out)
							break
						}
					}
				}
			}
		})
	}
}

// attackLookalikes resemble the new spellings without spelling a secret:
// identifiers listed on indented lines, a form-encoded text, names that
// share a part with the customer's, ordinary words.
var attackLookalikes = []string{
	"request ids:\n        3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b\n        4a3c9d2f-0b5e-4f8c-9d3a-2b6e7f8a9b0c\n" +
		"        5b4d0e3a-1c6f-4a9d-8e4b-3c7f8a9b0c1d\n        6c5e1f4b-2d7a-4b0e-9f5c-4d8a9b0c1d2e",
	strings.Repeat("field=target.name%0Areason=mismatch%0Aexpected=a+different+spelling%0Aseen=another+customer+entirely%0A", 3),
	"Renée Lindqvist and Zoë Lind are other customers; Strauss and Yilmaz too",
	"STRASSE 12, ISTANBUL; Ａｃｃｏｕｎｔ ｓｕｓｐｅｎｄｅｄ",
}

func TestEchoAttackLookalikesKept(t *testing.T) {
	t.Parallel()
	for i, text := range attackLookalikes {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			outs := spellingOutputsFor(t, echoPerson{spellName, spellBirthday, spellIDNumber, ""}, text)
			assert.Contains(t, outs["APIError.Message"], strings.Join(strings.Fields(text), " "), "the message keeps an ordinary text")
			assert.NotContains(t, outs["APIError.Body"], "[", "nothing masked or withheld in the body")
		})
	}
}
