package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// legacyTarget is Target with the UnmarshalJSON it had before decode read
// a detail's target through taskDetailShadow, kept as the reference of
// FuzzTargetAsBefore.
type legacyTarget Target

func (t *legacyTarget) UnmarshalJSON(data []byte) error {
	type plain Target
	if err := json.Unmarshal(data, (*plain)(t)); err != nil {
		return err
	}
	t.Extra = nil
	if !jsonscan.HasKeyOutside(data, targetFields) {
		return nil // the usual target: no second decode into a map
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		return nil // null or not an object: nothing extra
	}
	for k, v := range all {
		if !targetFields[k] {
			if t.Extra == nil {
				t.Extra = map[string]any{}
			}
			t.Extra[k] = v
		}
	}
	return nil
}

// shadowDocs are details whose target the shadow decode must read as
// Target.UnmarshalJSON does: undocumented members, keys in other cases or
// escaped, repeated targets, null, a target inside the result, errors.
var shadowDocs = []string{
	`{"task_id":1,"target":{"type":2,"name":"Co","registration_number":"123"}}`,
	`{"target":{"type":1,"Name":"a","name":"b","x":{"y":[1,2]}}}`,
	`{"TARGET":{"type":1,"x":1},"target":{"name":"b"}}`,
	`{"target":{"name":"a","x":1},"Target":{"type":1}}`,
	`{"target":{"name":"a"},"target":null}`, `{"target":{"name":"a","x":1},"TARGET":null}`,
	`{"target":{"name":"a","x":1},"target":null,"target":{"type":1}}`,
	`{"target":null}`, `{"target":{}}`, `{"target":[]}`, `{"target":"x"}`, `{"target":{"type":"1"}}`,
	`{"t\u0061rget":{"type":1,"x":2}}`, `{"target":{"n\u0061me":"a"}}`,
	`{"result":{"target":{"x":1}},"comment":"\"target\""}`,
	`{"result":{"target":{"x":1}},"target":{"type":2,"y":2}}`,
	`{"target":{"type":1,"name":"a"},"potential_risk":"high"}`,
	`{"target":{"type":1,"name":"a"}}x`, `null`, `[]`,
}

// TestTaskDetailShadowAsBefore: the shadow decode gives what decoding the
// detail through Target.UnmarshalJSON gives, errors included.
func TestTaskDetailShadowAsBefore(t *testing.T) {
	t.Parallel()
	for _, doc := range shadowDocs {
		checkShadowAsBefore(t, []byte(doc))
	}
	checkShadowAsBefore(t, fixture(t, "task_detail.json"))
	checkShadowAsBefore(t, escapedDetail(fixture(t, "task_detail.json")))
	checkShadowAsBefore(t, bigDetail(t, 64<<10, `[{"target":{"x":1}}]`))
}

// FuzzTaskDetailShadow compares decode's shadow path for a TaskDetail
// with encoding/json decoding the detail itself; FuzzTargetAsBefore holds
// Target.UnmarshalJSON to the legacy one.
func FuzzTaskDetailShadow(f *testing.F) {
	for _, doc := range shadowDocs {
		f.Add([]byte(doc))
	}
	for _, name := range []string{"task_detail.json", "task_detail_nested_sources.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkShadowAsBefore(t, body)
	})
}

func checkShadowAsBefore(t *testing.T, body []byte) {
	var got TaskDetail
	checkAsBefore(t, body, &got, func(want *TaskDetail, trimmed []byte) { want.setRaw(trimmed) })
}

// checkAsBefore decodes body with decode into got and with encoding/json
// into a W, the type as it was decoded before its shadow: the same errors,
// and the same value once fix has added to it what decode does. It
// reports whether body decoded.
func checkAsBefore[W any](t *testing.T, body []byte, got *W, fix func(want *W, trimmed []byte)) bool {
	trimmed := bytes.Trim(body, " \t\r\n")
	if len(trimmed) == 0 {
		return false
	}
	var want W
	wantErr := json.Unmarshal(trimmed, &want)
	err := decode(&callConfig{maxBody: 1 << 30}, "GET", "/x", result{status: 200, body: body}, asShadowed(got))
	if wantErr != nil {
		require.Error(t, err, "%s", body)
		assert.Equal(t, valueFreeDecodeError(wantErr).Error(), errors.Unwrap(err).Error(), "%s", body)
		return false
	}
	require.NoError(t, err, "%s", body)
	fix(&want, trimmed)
	assert.Equal(t, want, *got, "%s", body)
	return true
}

// asShadowed is the model decode reads a W as: createdTasks for the
// receipts, W itself otherwise.
func asShadowed[W any](got *W) any {
	if receipts, ok := any(got).(*[]CreatedTask); ok {
		return (*createdTasks)(receipts)
	}
	return got
}

func FuzzTargetAsBefore(f *testing.F) {
	for _, doc := range []string{`{"type":1,"name":"a","x":1}`, `{"name":"a","Name":"b"}`, `null`, `{"n\u0061me":"a"}`, `[]`, `{"type":"x"}`} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var got, want Target
		got.Extra, want.Extra = map[string]any{"before": 1}, map[string]any{"before": 1}
		gotErr := got.UnmarshalJSON([]byte(doc))
		wantErr := (*legacyTarget)(&want).UnmarshalJSON([]byte(doc))
		if wantErr != nil {
			require.Error(t, gotErr, doc)
			assert.Equal(t, wantErr.Error(), gotErr.Error(), doc)
		} else {
			require.NoError(t, gotErr, doc)
		}
		assert.Equal(t, want, got, doc)
	})
}

// The 1.2 KB detail decodes in 27 allocations (31 before): its target is
// read in the one pass over the body (taskDetailShadow), without the
// nested decoder of Target.UnmarshalJSON, and its search sources and
// metadata without json.Valid. Not parallel: the count is global.
func TestTaskDetailDecodeAllocs(t *testing.T) {
	body := fixture(t, "task_detail.json")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeTaskDetail(body); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 27.0)
}

// BenchmarkDecodeTaskDetail is decode alone on the 1.2 KB detail, and on
// the same with escaped slashes and "target" keys in its result
// (escapedDetail), where LastMember walks more of the body.
func BenchmarkDecodeTaskDetail(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "task_detail.json"))
	require.NoError(b, err)
	for name, body := range map[string][]byte{"plain": body, "escaped": escapedDetail(body)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeTaskDetail(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// escapedDetail is detail with its callback URL's slashes escaped and
// two "target" keys in its result.
func escapedDetail(detail []byte) []byte {
	body := bytes.Replace(detail, []byte(`"callback_url": "string"`), []byte(`"callback_url": "https:\/\/x.example\/cb"`), 1)
	return bytes.Replace(body, []byte(`{"undocumented": {"hits": 3}}`), []byte(`[{"target": "a"}, {"target": {"x": 1}}]`), 1)
}

// The shadow of a TaskDetail has its fields from TaskID on, with their
// names, tags and offsets, the target without methods; a replacement that
// changes the layout panics.
func TestShadowType(t *testing.T) {
	t.Parallel()
	model := reflect.TypeFor[TaskDetail]()
	first, _ := model.FieldByName("TaskID")
	require.Equal(t, model.NumField()-first.Index[0], taskDetailShadow.NumField())
	for i := range taskDetailShadow.NumField() {
		got, want := taskDetailShadow.Field(i), model.Field(first.Index[0]+i)
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.Tag, got.Tag)
		assert.Equal(t, want.Offset, got.Offset+first.Offset)
		if want.Name == "Target" {
			assert.Equal(t, reflect.TypeFor[plainTarget](), got.Type)
		} else {
			assert.Equal(t, want.Type, got.Type)
		}
	}
	type pair struct {
		A int8
		B int8
	}
	assert.Panics(t, func() {
		shadowType[pair]("A", map[reflect.Type]reflect.Type{reflect.TypeFor[int8](): reflect.TypeFor[int64]()})
	})
	// The same size and offsets, but a pointer where the model has none:
	// the garbage collector would read the model's bytes as an address.
	type word struct{ A uintptr }
	assert.PanicsWithValue(t, "kryptogo: shadowType: *int is no plain copy of uintptr", func() {
		shadowType[word]("A", map[reflect.Type]reflect.Type{reflect.TypeFor[uintptr](): reflect.TypeFor[*int]()})
	})
}

// receiptDocs are answers of POST /task whose receipts the shadow decode
// must read as []CreatedTask's decode does: RawJSON each, nulls, errors.
var receiptDocs = []string{
	`[{"task_id":1,"timestamp":1700470381},{"task_id":"2","timestamp":"2023-11-20T08:53:01Z","x":[1,{"y":"]"}]}]`,
	` [ { "task_id" : 3 } , null , {} ] `, `[]`, `null`, `[1]`, `{}`, `[{"task_id":"x"}]`, `[{"task_id":1}`,
	`[{"TASK_ID":4,"task_id":5}]`, `[{"task_id":6,"task_id":null}]`,
}

// TestCreatedTasksShadowAsBefore: the receipts decode as []CreatedTask
// through CreatedTask.UnmarshalJSON, errors included.
func TestCreatedTasksShadowAsBefore(t *testing.T) {
	t.Parallel()
	for _, doc := range receiptDocs {
		checkReceiptsAsBefore(t, []byte(doc))
	}
	checkReceiptsAsBefore(t, fixture(t, "task_create_response.json"))
}

func FuzzCreatedTasksShadow(f *testing.F) {
	for _, doc := range receiptDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkReceiptsAsBefore(t, body)
	})
}

func checkReceiptsAsBefore(t *testing.T, body []byte) {
	var got []CreatedTask
	if !checkAsBefore(t, body, &got, func(*[]CreatedTask, []byte) {}) {
		return // an error: got is what the fallback left
	}
	for i := range got {
		raw := got[i].RawJSON()
		assert.Equal(t, len(raw), cap(raw), "a receipt's JSON cannot grow into the next one's")
	}
}

// createTaskWire has CreateTaskRequest's members, in order, with their
// tags (IdempotencyKey is no member).
func TestCreateTaskWire(t *testing.T) {
	t.Parallel()
	model, wire := reflect.TypeFor[CreateTaskRequest](), reflect.TypeFor[createTaskWire]()
	var members []reflect.StructField
	for i := range model.NumField() {
		if f := model.Field(i); f.Tag.Get("json") != "-" {
			members = append(members, f)
		}
	}
	require.Equal(t, len(members), wire.NumField())
	for i, f := range members {
		assert.Equal(t, f.Name, wire.Field(i).Name)
		assert.Equal(t, f.Tag, wire.Field(i).Tag)
		assert.Equal(t, f.Type.Kind(), wire.Field(i).Type.Kind(), f.Name)
	}
}

// FuzzCreateTaskWire: a batch's body (taskBatch.body) encodes to the bytes
// the batch itself does, and carries the same personal values.
func FuzzCreateTaskWire(f *testing.F) {
	f.Add(int64(3), 1, "王又曾", "1987-06-05", "TWN", "https://example.com/cb?a=<b>&c", "ref-1", []byte{0, 4}, int64(0), "")
	f.Add(int64(0), 2, "\xff<&>\u2028", "", "", "", "", []byte(nil), int64(-7), "x")
	f.Fuzz(func(t *testing.T, setting int64, typ int, name, birthday, citizenship, callback, ref string, sources []byte, idv int64, extraKey string) {
		req := CreateTaskRequest{SearchSettingID: ID(setting), Target: Target{Type: TargetType(typ), Name: name,
			Birthday: birthday, Citizenship: citizenship}, CallbackURL: callback, CustomerReference: ref, FromIDVID: ID(idv)}
		for _, s := range sources {
			req.SearchSource = append(req.SearchSource, SearchSource(s))
		}
		if extraKey != "" {
			req.Target.Extra = map[string]any{extraKey: name}
		}
		batch := taskBatch{req, {SearchSettingID: 1, Target: KYBTarget(citizenship)}}
		want, wantErr := json.Marshal(batch)
		got, err := json.Marshal(batch.body())
		require.Equal(t, wantErr == nil, err == nil, "%v %v", wantErr, err)
		assert.Equal(t, string(want), string(got))
		assert.Equal(t, batch.personalValues(), batch.body().personalValues())
	})
}

// Receipts decoded into a slice that already holds receipts (the elements
// below its length, and those up to its capacity) hold what encoding/json
// decoding into the same slice gives: each receipt from zero, as
// CreatedTask.UnmarshalJSON decodes it, none keeping a member of the
// receipt it replaces.
func TestCreatedTasksShadowReused(t *testing.T) {
	t.Parallel()
	old := func() []CreatedTask {
		s := make([]CreatedTask, 3)
		for i := range s {
			s[i] = CreatedTask{TaskID: ID(9 + i), Timestamp: Timestamp{time.Unix(int64(5+i), 0).UTC()}}
		}
		return s[:1]
	}
	for _, doc := range []string{`[{"task_id":1}]`, `[{"timestamp":7},{"task_id":2},{}]`, `[null]`, `[]`, `null`} {
		want := old()
		require.NoError(t, json.Unmarshal([]byte(doc), &want), doc)
		got := old()
		require.NoError(t, decode(&callConfig{maxBody: 1 << 20}, "POST", "/task", result{status: 200, body: []byte(doc)}, (*createdTasks)(&got)), doc)
		require.Len(t, got, len(want), doc)
		for i := range want {
			assert.Equal(t, want[i].TaskID, got[i].TaskID, doc)
			assert.Equal(t, want[i].Timestamp, got[i].Timestamp, doc)
			assert.Equal(t, string(want[i].RawJSON()), string(got[i].RawJSON()), doc)
		}
	}
}

// shadowKeys and shadowValues are the members FuzzTaskDetailShadowMembers
// builds details of: the target's key in other cases, escaped, or
// almost; values that hold "target" keys and strings, escapes, invalid
// UTF-8, nulls, errors.
var (
	shadowKeys = []string{`"target"`, `"Target"`, `"TARGET"`, `"t\u0061rget"`, `"\u0054ARGET"`, `"targe"`, `"targets"`,
		`"result"`, `"comment"`, `"comment_logs"`, `"metadata"`, `"name"`, `"tar\u0067et"`, `"ta\/rget"`, `"target\u0000"`,
		"\"targe\xff\"", `"ｔarget"`, `"potential_risk"`, `"search_source"`, `"task_id"`}
	shadowValues = []string{`null`, `{"type":1,"name":"a","x":1}`, `{"name":"b"}`, `{"target":{"x":1},"y":"target"}`,
		`"target"`, `"\"target\":"`, `"\\"`, `"\\\"target\""`, `[{"target":{"z":2}},"target","TARGET"]`, `{}`,
		`{"type":2,"Name":"c","NAME":"d","q":[1,{"r":"}"}]}`, `1`, `true`, `[]`, `{"type":"x"}`, `{"x":"\u0074arget"}`,
		"\"\xff\"", `[[[[{"target":1}]]]]`, `{"birthday":"1990-01-01","extra":null}`, `[1,2,3]`}
)

// FuzzTaskDetailShadowMembers builds details from shadowKeys and
// shadowValues (three bytes a member: key, value, white space; a result
// or comment_logs may be padded past cutAbove, for decodeCut) and holds
// the shadow decode to encoding/json's decode of the detail.
func FuzzTaskDetailShadowMembers(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0})
	f.Add([]byte{7, 8, 0x80, 1, 1, 0, 2, 0, 3})
	f.Add([]byte{0, 1, 0, 2, 0, 0})
	f.Fuzz(func(t *testing.T, seed []byte) {
		checkShadowAsBefore(t, shadowMembersDoc(seed))
	})
}

func shadowMembersDoc(seed []byte) []byte {
	space := []string{"", " ", "\n", "\t ", "\r\n"}
	doc := []byte("{")
	for i := 0; i+2 < len(seed) && i < 60; i += 3 {
		if i > 0 {
			doc = append(doc, space[int(seed[i+2])%len(space)]+","...)
		}
		key, value := shadowKeys[int(seed[i])%len(shadowKeys)], shadowValues[int(seed[i+1])%len(shadowValues)]
		if seed[i+2]&0x80 != 0 && (key == `"result"` || key == `"comment_logs"`) {
			value = "[" + strings.Repeat(`{"target":{"x":"\u0061"},"s":"\\\"target"},`, 500) + value + "]"
		}
		doc = append(doc, space[int(seed[i+2]>>3)%len(space)]+key+space[int(seed[i+1]>>5)%len(space)]+":"+value...)
	}
	return append(doc, '}')
}

// shadowReceipts are the elements FuzzCreatedTasksShadowElements builds
// answers of.
var shadowReceipts = []string{`{"task_id":1,"timestamp":1700470381}`, `null`, `{}`, `{"task_id":"2","x":"]}[{"}`,
	`{"TASK_ID":3,"task_id":null}`, `{"task_id":4,"timestamp":"2023-11-20T08:53:01Z","n":[[],{"a":"\\"}]}`,
	"{\"s\":\"\xff\"}", `{"task_id":5,"task_id":6}`, `1`, `"x"`, `[]`}

// FuzzCreatedTasksShadowElements builds answers of POST /task from
// shadowReceipts (a byte an element: which, and the white space around
// it) and holds them to CreatedTask.UnmarshalJSON's decode.
func FuzzCreatedTasksShadowElements(f *testing.F) {
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, seed []byte) {
		space := []string{"", " ", "\n", "\t ", "\r\n"}
		doc := []byte("[")
		for i, c := range seed[:min(len(seed), 20)] {
			if i > 0 {
				doc = append(doc, space[int(c>>4)%len(space)]+","...)
			}
			doc = append(doc, space[int(c>>5)%len(space)]+shadowReceipts[int(c)%len(shadowReceipts)]+space[int(c>>3)%len(space)]...)
		}
		checkReceiptsAsBefore(t, append(doc, ']'))
	})
}

// Appending to a receipt's RawJSON leaves the next receipts' JSON as it
// was: each is a capped slice of the one body.
func TestCreatedTasksRawJSONAppend(t *testing.T) {
	t.Parallel()
	var got createdTasks
	body := []byte(`[{"task_id":1},{"task_id":2} ,{"task_id":3}]`)
	require.NoError(t, decode(&callConfig{maxBody: 1 << 20}, "POST", "/task", result{status: 200, body: body}, &got))
	for i := range got {
		_ = append(got[i].RawJSON(), `,"x":{}}`...)
	}
	assert.Equal(t, `{"task_id":2}`, string(got[1].RawJSON()))
	assert.Equal(t, `{"task_id":3}`, string(got[2].RawJSON()))
	assert.Equal(t, `[{"task_id":1},{"task_id":2} ,{"task_id":3}]`, string(body))
}

// A detail decoded into one that holds another detail's values holds what
// encoding/json decoding both into one detail holds, errors alike.
func TestTaskDetailShadowReused(t *testing.T) {
	t.Parallel()
	first := `{"task_id":1,"target":{"type":1,"name":"a","x":1},"result":{"a":1},"metadata":{"k":"v"},"comment_logs":[1]}`
	for _, second := range []string{`{"task_id":2}`, `{"target":null}`, `{"target":{"name":"b"}}`,
		`{"result":null,"metadata":null}`, `{"target":{"type":"x"}}`, `{"target":{"y":2},"search_source":[1]}`} {
		var got, want TaskDetail
		require.NoError(t, decode(&callConfig{maxBody: 1 << 20}, "GET", "/x", result{status: 200, body: []byte(first)}, &got))
		require.NoError(t, json.Unmarshal([]byte(first), &want))
		err := decode(&callConfig{maxBody: 1 << 20}, "GET", "/x", result{status: 200, body: []byte(second)}, &got)
		wantErr := json.Unmarshal([]byte(second), &want)
		if assert.Equal(t, wantErr == nil, err == nil, second) && err == nil {
			want.setRaw([]byte(second))
			assert.Equal(t, want, got, second)
		}
	}
}

// Details and receipts decode through their shadows on many goroutines at
// once, the big detail through decodeCut too (go test -race).
func TestShadowsConcurrently(t *testing.T) {
	t.Parallel()
	bodies := [][]byte{fixture(t, "task_detail.json"), bigDetail(t, 64<<10, `[{"target":{"x":1}}]`)}
	wants := make([]TaskDetail, len(bodies))
	for i, body := range bodies {
		require.NoError(t, json.Unmarshal(body, &wants[i]))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for i, body := range bodies {
					got, err := decodeTaskDetail(body)
					if assert.NoError(t, err) {
						assert.Equal(t, wants[i].Target, got.Target)
					}
				}
				var receipts createdTasks
				assert.NoError(t, decode(&callConfig{maxBody: 1 << 20}, "POST", "/task", result{status: 200, body: []byte(`[{"task_id":1},null]`)}, &receipts))
			}
		}()
	}
	wg.Wait()
}
