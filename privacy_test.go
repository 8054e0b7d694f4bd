package kryptogo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

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
