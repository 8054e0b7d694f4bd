package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The drift report behind the live conformance check (live_test.go, build
// tag live): it compares an answer of the real API with the model the SDK
// decodes it into. It lives in an untagged file so that CI tests it.

// driftReport lists how an answer differs from its model, by JSON path
// ("data[].target.name"). It holds field names and JSON kinds only, never a
// value: answers carry names, birthdays and ID numbers.
type driftReport struct {
	Unknown  []string // sent by the API, unknown to the model
	Missing  []string // expected by the model, not sent
	Mismatch []string // sent with a type the model cannot decode: "path: JSON string, model int"
}

// checkDrift compares the JSON answer raw with model, the type the SDK
// decodes it into.
func checkDrift(raw []byte, model reflect.Type) (driftReport, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text, for the decode check of leaves
	var v any
	if err := dec.Decode(&v); err != nil {
		return driftReport{}, fmt.Errorf("the answer is not JSON: %w", err)
	}
	var d driftReport
	d.walk("", v, model)
	for _, list := range []*[]string{&d.Unknown, &d.Missing, &d.Mismatch} {
		slices.Sort(*list)
		*list = slices.Compact(*list)
	}
	return d, nil
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// walk compares the decoded JSON value v, at path, with the Go type t.
func (d *driftReport) walk(path string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	switch obj, arr := asObject(v), asArray(v); {
	case v == nil, t == rawMessageType, t.Kind() == reflect.Interface:
		// null, or a part the API does not document: any shape will do
	case t.Kind() == reflect.Struct && len(jsonFields(t)) > 0 && (obj != nil || !custom):
		if obj == nil {
			d.mismatch(path, v, t)
			return
		}
		d.walkObject(path, obj, t)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 && !custom:
		if arr == nil {
			d.mismatch(path, v, t)
			return
		}
		for _, e := range arr {
			d.walk(path+"[]", e, t.Elem())
		}
	default:
		d.checkLeaf(path, v, t)
	}
}

func asObject(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asArray(v any) []any { a, _ := v.([]any); return a }

// walkObject compares the keys of an object with the fields of the struct
// type t, matching them as encoding/json does (an exact match first, then
// ignoring case).
func (d *driftReport) walkObject(path string, obj map[string]any, t reflect.Type) {
	fields := jsonFields(t)
	sent := make([]bool, len(fields))
	for key, val := range obj {
		i := slices.IndexFunc(fields, func(f modelField) bool { return f.name == key })
		if i < 0 {
			i = slices.IndexFunc(fields, func(f modelField) bool { return strings.EqualFold(f.name, key) })
		}
		if i < 0 {
			d.Unknown = append(d.Unknown, joinPath(path, key))
			continue
		}
		sent[i] = true
		d.walk(joinPath(path, key), val, fields[i].typ)
	}
	for i, f := range fields {
		if !sent[i] && !f.optional {
			d.Missing = append(d.Missing, joinPath(path, f.name))
		}
	}
}

// checkLeaf decodes v alone into a t, as the SDK would: a failure is a
// type the model does not expect. Custom decoders (ID, Timestamp,
// MetadataList) accept every spelling they know.
func (d *driftReport) checkLeaf(path string, v any, t reflect.Type) {
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, reflect.New(t).Interface())
	}
	if err != nil {
		d.mismatch(path, v, t)
	}
}

func (d *driftReport) mismatch(path string, v any, t reflect.Type) {
	d.Mismatch = append(d.Mismatch, fmt.Sprintf("%s: JSON %s, model %s", pathOrRoot(path), jsonValueKind(v), t))
}

// modelField is a field of a model as encoding/json names it.
type modelField struct {
	name     string
	typ      reflect.Type
	optional bool // omitempty or omitzero: the model does not expect it always
}

// jsonFields lists the fields encoding/json decodes into a struct type,
// with the fields of untagged embedded structs in line.
func jsonFields(t reflect.Type) []modelField {
	var out []modelField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case tag == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
		case !f.IsExported():
		default:
			if name == "" {
				name = f.Name
			}
			optional := strings.Contains(tag, ",omitempty") || strings.Contains(tag, ",omitzero")
			out = append(out, modelField{name, f.Type, optional})
		}
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOrRoot(path string) string {
	if path == "" {
		return "(the answer)"
	}
	return path
}

// jsonValueKind names the kind of a decoded JSON value.
func jsonValueKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// String lists the drift one path a line, or says there is none.
func (d driftReport) String() string {
	if len(d.Unknown)+len(d.Missing)+len(d.Mismatch) == 0 {
		return "no drift: every field sent is known, expected and of the expected type"
	}
	var b strings.Builder
	for _, section := range []struct {
		title string
		paths []string
	}{
		{"sent by the API, unknown to the SDK's model", d.Unknown},
		{"expected by the model, not sent (some are sent only in some states)", d.Missing},
		{"of a type the model cannot decode", d.Mismatch},
	} {
		if len(section.paths) > 0 {
			fmt.Fprintf(&b, "%s:\n  %s\n", section.title, strings.Join(section.paths, "\n  "))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// driftCheck is one free GET of the live check and the model of its answer.
type driftCheck struct {
	name  string // a subtest name
	path  string
	model reflect.Type
}

// Environment variables of the live check: ids to fetch, comma-separated.
const (
	envLiveTaskID = "KRYPTOGO_LIVE_TASK_ID"
	envLiveIDVID  = "KRYPTOGO_LIVE_IDV_ID"
	envLiveKYAID  = "KRYPTOGO_LIVE_KYA_ID"
)

// driftChecks lists the calls of the live check: the first page of the task
// history, and the records whose ids the environment names. Every one is a
// GET, which costs no points.
func driftChecks(getenv func(string) string) ([]driftCheck, error) {
	checks := []driftCheck{{"tasks_history", "/tasks?page_size=20&page_number=1", reflect.TypeFor[TaskPage]()}}
	for _, src := range []struct {
		env   string
		each  func(id string) []driftCheck
		label string
	}{
		{envLiveTaskID, func(id string) []driftCheck {
			return []driftCheck{
				{"task_summary_" + id, "/task/" + id + "/summary", reflect.TypeFor[TaskSummary]()},
				{"task_detail_" + id, "/task/" + id, reflect.TypeFor[TaskDetail]()},
			}
		}, "task"},
		{envLiveIDVID, func(id string) []driftCheck {
			return []driftCheck{{"idv_" + id, "/idv/" + id, reflect.TypeFor[IDVTask]()}}
		}, "IDV"},
		{envLiveKYAID, func(id string) []driftCheck {
			return []driftCheck{{"kya_" + id, "/kya/detail/" + id, reflect.TypeFor[KYAResult]()}}
		}, "KYA"},
	} {
		for _, field := range strings.Split(getenv(src.env), ",") {
			if field = strings.TrimSpace(field); field == "" {
				continue
			}
			if n, err := strconv.ParseInt(field, 10, 64); err != nil || n <= 0 {
				return nil, fmt.Errorf("%s: %q is not a %s id (a positive number)", src.env, field, src.label)
			}
			checks = append(checks, src.each(field)...)
		}
	}
	return checks, nil
}

// run fetches the answer raw, decodes it with the SDK's model and reports
// its drift. The report is filled whenever the answer is JSON, so a decode
// failure still shows which field broke it.
func (c driftCheck) run(ctx context.Context, client *Client) (driftReport, error) {
	var raw json.RawMessage
	if err := client.Do(ctx, http.MethodGet, c.path, nil, &raw); err != nil {
		return driftReport{}, err
	}
	report, err := checkDrift(raw, c.model)
	if err != nil {
		return report, err
	}
	if err := json.Unmarshal(raw, reflect.New(c.model).Interface()); err != nil {
		return report, fmt.Errorf("the SDK cannot decode the answer into %s: %s", c.model, decodeFailure(err))
	}
	return report, nil
}

// decodeFailure describes a decoding error without the value that broke
// it (encoding/json quotes numbers; custom decoders may quote more).
func decodeFailure(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		kind, _, _ := strings.Cut(typeErr.Value, " ") // "number 1.5": the kind only
		return fmt.Sprintf("field %s cannot hold a JSON %s", typeErr.Field, kind)
	}
	return fmt.Sprintf("%T", err)
}

func TestCheckDriftReportsUnknownMissingAndMistyped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fixture string
		model   reflect.Type
		want    driftReport
	}{
		{"drift/task_summary.json", reflect.TypeFor[TaskSummary](), driftReport{
			Unknown:  []string{"assignee", "report.risk_level", "search_setting.regions"},
			Missing:  []string{"audit_time"},
			Mismatch: []string{"progress: JSON string, model int", "report.sanction_matched: JSON string, model bool"},
		}},
		{"drift/tasks_history.json", reflect.TypeFor[TaskPage](), driftReport{
			Unknown: []string{"data[].Source", "data[].source", "data[].target.registration_no"},
			Missing: []string{"data[].audit_time"},
		}},
		{"drift/tasks_history.json", reflect.TypeFor[[]TaskSummary](), driftReport{
			Mismatch: []string{"(the answer): JSON object, model []kryptogo.TaskSummary"},
		}},
	} {
		t.Run(tc.fixture+" as "+tc.model.String(), func(t *testing.T) {
			got, err := checkDrift(fixture(t, tc.fixture), tc.model)
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
		})
	}
}

// The SDK's own fixtures (the seed's samples and the quirks it decodes)
// hold no field its models do not know, and no type they cannot decode.
func TestCheckDriftFindsNoneInTheSDKsFixtures(t *testing.T) {
	t.Parallel()
	for fixtureName, model := range map[string]reflect.Type{
		"task_summary.json": reflect.TypeFor[TaskSummary](),
		"task_detail.json":  reflect.TypeFor[TaskDetail](), "tasks_history.json": reflect.TypeFor[TaskPage](),
		"idv_task.json":   reflect.TypeFor[IDVTask](),
		"kya_result.json": reflect.TypeFor[KYAResult](), "callback_task.json": reflect.TypeFor[TaskSummary](),
		"idv_init_response.json": reflect.TypeFor[WebIDVSession](), "task_create_response.json": reflect.TypeFor[[]CreatedTask](),
	} {
		t.Run(fixtureName, func(t *testing.T) {
			got, err := checkDrift(fixture(t, fixtureName), model)
			require.NoError(t, err)
			assert.Empty(t, got.Unknown)
			assert.Empty(t, got.Mismatch)
		})
	}
}

// The quirk fixtures carry fields no model knows, on purpose: the report
// finds exactly those.
func TestCheckDriftFindsTheQuirkFixturesExtraFields(t *testing.T) {
	t.Parallel()
	got, err := checkDrift(fixture(t, "task_summary_nulls.json"), reflect.TypeFor[TaskSummary]())
	require.NoError(t, err)
	assert.Equal(t, []string{"brand_new_field", "target.registration_number"}, got.Unknown)
	got, err = checkDrift(fixture(t, "idv_task_quirks.json"), reflect.TypeFor[IDVTask]())
	require.NoError(t, err)
	assert.Equal(t, []string{"engine"}, got.Unknown)
}

func TestDriftReportText(t *testing.T) {
	t.Parallel()
	got, err := checkDrift(fixture(t, "drift/task_summary.json"), reflect.TypeFor[TaskSummary]())
	require.NoError(t, err)
	text := got.String()
	assert.Equal(t, `sent by the API, unknown to the SDK's model:
  assignee
  report.risk_level
  search_setting.regions
expected by the model, not sent (some are sent only in some states):
  audit_time
of a type the model cannot decode:
  progress: JSON string, model int
  report.sanction_matched: JSON string, model bool`, text)
	for _, value := range []string{"王又曾", "王小明", "a@example.com", "gold", "medium", "000000123", "1990"} {
		assert.NotContains(t, text, value, "a report names fields, never values")
	}
	assert.Contains(t, driftReport{}.String(), "no drift")

	_, err = checkDrift([]byte(`{"task_id": `), reflect.TypeFor[TaskSummary]())
	assert.Error(t, err)
}

func TestDriftChecks(t *testing.T) {
	t.Parallel()
	env := map[string]string{envLiveTaskID: "12, 13", envLiveIDVID: "5", envLiveKYAID: ""}
	checks, err := driftChecks(func(k string) string { return env[k] })
	require.NoError(t, err)
	var got []string
	for _, c := range checks {
		got = append(got, c.name+" GET "+c.path+" "+c.model.Name())
	}
	assert.Equal(t, []string{
		"tasks_history GET /tasks?page_size=20&page_number=1 TaskPage",
		"task_summary_12 GET /task/12/summary TaskSummary", "task_detail_12 GET /task/12 TaskDetail",
		"task_summary_13 GET /task/13/summary TaskSummary", "task_detail_13 GET /task/13 TaskDetail",
		"idv_5 GET /idv/5 IDVTask",
	}, got)

	env[envLiveKYAID] = "0x12"
	_, err = driftChecks(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, envLiveKYAID)
}

func TestDriftCheckRun(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	handleGET(t, mux, "/task/123/summary", "drift/task_summary.json")
	mux.HandleFunc("/tasks", func(w http.ResponseWriter, r *http.Request) {
		assertRequestQuery(t, r, http.MethodGet, "/tasks", "page_number=1&page_size=20")
		serveFixture(t, "drift/tasks_history.json")(w)
	})
	checks, err := driftChecks(func(k string) string { return map[string]string{envLiveTaskID: "123"}[k] })
	require.NoError(t, err)

	report, err := checks[0].run(t.Context(), client)
	require.NoError(t, err, "the history decodes despite its drift")
	assert.Equal(t, []string{"data[].audit_time"}, report.Missing)

	report, err = checks[1].run(t.Context(), client)
	require.Error(t, err, "progress as a string breaks the decoding")
	assert.Equal(t, "the SDK cannot decode the answer into kryptogo.TaskSummary: field progress cannot hold a JSON string", err.Error())
	assert.Len(t, report.Mismatch, 2, "the report still says which fields broke it")

	_, err = checks[2].run(t.Context(), client)
	assert.ErrorIs(t, err, ErrNotFound)
}
