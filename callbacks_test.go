package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyabc/kryptogo-go/internal/jsonkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCallbackMatchesGETModels(t *testing.T) {
	t.Parallel()
	ev, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	var summary TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &summary))
	assertDecoded(t, &summary, ev.Task)
	assert.Nil(t, ev.IDV)
	assert.Equal(t, CallbackTask, ev.Kind)

	ev, err = ParseCallback(fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assertDecoded(t, wantIDVTask(), ev.IDV)
	assert.Nil(t, ev.Task)
	assert.Equal(t, CallbackIDV, ev.Kind)
	assert.JSONEq(t, string(fixture(t, "callback_idv.json")), string(ev.RawJSON()))

	ev, err = ParseCallback([]byte(`{"task_id": 5, "future_field": {"x": 1}}`))
	require.NoError(t, err)
	assert.Contains(t, string(ev.RawJSON()), "future_field", "undocumented fields are kept")
}

func TestParseCallbackRejects(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":       `task_id=5`,
		"array":          `[{"task_id": 5}]`,
		"null":           `null`,
		"empty object":   `{}`,
		"neither kind":   `{"kya_id": 12}`,
		"both kinds":     `{"task_id": 1, "idv_task_id": 2}`,
		"zero task id":   `{"task_id": 0}`,
		"null idv id":    `{"idv_task_id": null}`,
		"bad task field": `{"task_id": 5, "progress": "done"}`,
		"bad idv field":  `{"idv_task_id": 5, "state": "accept"}`,
		"truncated":      `{"task_id": 5,`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCallback([]byte(body))
			assert.ErrorIs(t, err, ErrInvalidCallback, name)
		})
	}
	_, err := ParseCallback([]byte(`{"kya_id": 12}`))
	assert.EqualError(t, err, "kryptogo: invalid callback: the body is neither a DD task (task_id) nor an IDV task (idv_task_id)")
	_, err = ParseTaskCallback(fixture(t, "callback_idv.json"))
	assert.ErrorIs(t, err, ErrInvalidCallback)
	_, err = ParseIDVCallback(fixture(t, "callback_task.json"))
	assert.ErrorIs(t, err, ErrInvalidCallback)
}

// TestParseCallbackRefusesDuplicateKeys: encoding/json matches keys to
// fields case-insensitively and keeps the last duplicate, so the
// customer_reference the handler checks could differ from the one a
// case-sensitive or first-wins reader of RawJSON sees. Such a body is not a
// callback.
func TestParseCallbackRefusesDuplicateKeys(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"customer_reference twice":       `{"idv_task_id": 7, "customer_reference": "c43", "customer_reference": "c42", "state": 0}`,
		"customer_reference in capitals": `{"task_id": 6, "customer_reference": "c43", "CUSTOMER_REFERENCE": "c42", "progress": 100}`,
		"mixed case":                     `{"task_id": 6, "Customer_Reference": "c43", "customer_reference": "c42"}`,
		"long s folds to s":              `{"task_id": 6, "customer_reference": "c42", "cu\u017Ftomer_reference": "c43"}`,
		"Kelvin sign folds to k":         `{"task_id": 6, "tas\u212A_id": 5}`,
		"task_id twice":                  `{"task_id": 5, "task_id": 6}`,
		"TASK_ID after task_id":          `{"task_id": 5, "TASK_ID": 6}`,
		"nested object":                  `{"task_id": 5, "report": {"accepted": false, "Accepted": true}}`,
		"object in an array":             `{"idv_task_id": 7, "list": [1, {"a": 1, "b": {}, "A": 2}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCallback([]byte(body))
			require.ErrorIs(t, err, ErrInvalidCallback)
			assert.ErrorContains(t, err, "repeats a key")
			assert.NotContains(t, err.Error(), "c4", "no value is echoed")
		})
	}
	_, err := ParseTaskCallback([]byte(`{"task_id": 5, "customer_reference": "c43", "CUSTOMER_REFERENCE": "c42"}`))
	assert.ErrorIs(t, err, ErrInvalidCallback, "ParseTaskCallback")
	_, err = ParseIDVCallback([]byte(`{"idv_task_id": 7, "customer_reference": "c43", "customer_reference": "c42"}`))
	assert.ErrorIs(t, err, ErrInvalidCallback, "ParseIDVCallback")

	for name, body := range map[string]string{
		"same key in nested objects":  `{"task_id": 5, "a": {"task_id": 1, "a": {"a": 2}}}`,
		"same key in sibling objects": `{"task_id": 5, "l": [{"a": 1}, {"a": 2}], "m": {"a": 3}}`,
		"keys that only look alike":   `{"task_id": 5, "taskid": 6, "task_id_": 7, "task-id": 8}`,
		"key equal to a string value": `{"task_id": 5, "a": "task_id", "b": ["a", "a"]}`,
	} {
		t.Run("accepts "+name, func(t *testing.T) {
			_, err := ParseCallback([]byte(body))
			assert.NoError(t, err)
		})
	}
}

// TestParseCallbackErrorsQuoteNoValues: encoding/json quotes a number that
// overflows its field ("cannot unmarshal number 1987…"), and a callback
// error is logged by the handler, so decoding errors name the field only.
func TestParseCallbackErrorsQuoteNoValues(t *testing.T) {
	t.Parallel()
	const secret = "198765432101198765432101"
	for name, tc := range map[string]struct{ body, field string }{
		"IDV state overflows":      {`{"idv_task_id": 7, "state": ` + secret + `}`, "state"},
		"task progress overflows":  {`{"task_id": 5, "progress": ` + secret + `}`, "progress"},
		"nested number overflows":  {`{"task_id": 5, "report": {"potential_risk": ` + secret + `e9}}`, "potential_risk"},
		"string for a number":      {`{"task_id": 5, "progress": "` + secret + `"}`, "progress"},
		"number for a string":      {`{"idv_task_id": 7, "id_number": ` + secret + `}`, "id_number"},
		"id as a non-numeric text": {`{"task_id": "` + secret + `x"}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCallback([]byte(tc.body))
			require.ErrorIs(t, err, ErrInvalidCallback)
			assert.NotContains(t, err.Error(), "1987654")
			assert.Contains(t, err.Error(), tc.field, "the error still names the field")
		})
	}
}

func TestCallbackEventKey(t *testing.T) {
	t.Parallel()
	a, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	b, err := ParseCallback(fixture(t, "callback_task.json"))
	require.NoError(t, err)
	assert.Equal(t, a.Key(), b.Key(), "the same delivery twice has the same key")
	assert.Equal(t, "task:123:1623867890:100:true", a.Key())

	completed, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": null}}`))
	require.NoError(t, err)
	accepted, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": true}}`))
	require.NoError(t, err)
	rejected, err := ParseCallback([]byte(`{"task_id": 123, "update_time": 1623867000, "progress": 100, "report": {"accepted": false}}`))
	require.NoError(t, err)
	keys := map[string]bool{completed.Key(): true, accepted.Key(): true, rejected.Key(): true, a.Key(): true}
	assert.Len(t, keys, 4, "each change of the task has its own key")

	idv, err := ParseCallback(fixture(t, "callback_idv.json"))
	require.NoError(t, err)
	assert.Equal(t, "idv:12:0:Accepted:1641982000", idv.Key())
	assert.Equal(t, "", (&CallbackEvent{}).Key())
	assert.Equal(t, ID(0), (&CallbackEvent{}).ID())
	assert.Nil(t, (&CallbackEvent{}).RawJSON())
	assert.Equal(t, "CallbackKind(0)", CallbackKind(0).String())
}

func FuzzParseCallback(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"task_id": "12", "metadata": {"a": 1}, "target": {"type": 2}}`))
	f.Add([]byte(`{"idv_task_id": 1e3, "state": -1, "audit_timestamp": "2024-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseCallback(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("error does not match ErrInvalidCallback: %v", err)
			}
			return
		}
		if (ev.Task == nil) == (ev.IDV == nil) {
			t.Fatalf("exactly one of Task and IDV must be set: %+v", ev)
		}
		if ev.ID() <= 0 {
			t.Fatalf("a parsed callback has a positive id, got %d", ev.ID())
		}
		_ = ev.Key()
	})
}

// TestParseCallbackFraming: the record decodes the body itself, so the
// framing json.Unmarshal checked must still be checked: white space around
// the object is not part of RawJSON, anything else after it is an error.
func TestParseCallbackFraming(t *testing.T) {
	t.Parallel()
	const task = `{"task_id": 7}`
	event, err := ParseCallback([]byte(" \r\n\t" + task + "\n "))
	require.NoError(t, err)
	assert.JSONEq(t, task, string(event.RawJSON()))
	assert.Equal(t, task, string(event.RawJSON()))
	for _, body := range []string{task + " x", task + task, task + "\v", `{"task_id": 7`} {
		_, err := ParseCallback([]byte(body))
		assert.ErrorIs(t, err, ErrInvalidCallback, body)
		_, err = ParseTaskCallback([]byte(body))
		assert.ErrorIs(t, err, ErrInvalidCallback, body)
	}
}

// oracleParseCallback is ParseCallback as it was before jsonkeys.Scan: a
// probe decode into a map for the kind, the record's UnmarshalJSON, then
// the check for repeated keys. FuzzParseCallbackMatchesOracle compares the
// two.
func oracleParseCallback(body []byte) (*CallbackEvent, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil || probe == nil {
		return nil, callbackError("the body is not a JSON object")
	}
	_, isTask := probe["task_id"]
	_, isIDV := probe["idv_task_id"]
	decode := func(record json.Unmarshaler) error {
		if err := record.UnmarshalJSON(bytes.Trim(body, " \t\r\n")); err != nil {
			return valueFreeDecodeError(err)
		}
		return jsonkeys.CheckUnique(body)
	}
	switch {
	case isTask && isIDV:
		return nil, callbackError("the body has both task_id and idv_task_id")
	case isTask:
		var task TaskSummary
		if err := decode(&task); err != nil {
			return nil, callbackError("task summary: %v", err)
		}
		if task.TaskID <= 0 {
			return nil, callbackError("task summary without a task_id")
		}
		return &CallbackEvent{Kind: CallbackTask, Task: &task}, nil
	case isIDV:
		var idv IDVTask
		if err := decode(&idv); err != nil {
			return nil, callbackError("IDV task: %v", err)
		}
		if idv.IDVTaskID <= 0 {
			return nil, callbackError("IDV task without an idv_task_id")
		}
		return &CallbackEvent{Kind: CallbackIDV, IDV: &idv}, nil
	}
	return nil, callbackError("the body is neither a DD task (task_id) nor an IDV task (idv_task_id)")
}

// FuzzParseCallbackMatchesOracle: ParseCallback and the handler's parse of
// a body it owns give the same event, or the same error text, as the
// passes they replaced.
func FuzzParseCallbackMatchesOracle(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "callback_*.json"))
	require.NoError(f, err)
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, doc := range []string{`{"task_id": 5, "TASK_ID": 6}`, `{"task_id": 1, "idv_task_id": 2}`, `{"task\u005fid": 3}`,
		`{"Task_ID": 4}`, `{"task_id": 5, "progress": "done", "a": 1, "A": 2}`, ` {"idv_task_id": 7} `, `{"task_id": 7} x`} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := oracleParseCallback(body)
		for name, parse := range map[string]func([]byte) (*CallbackEvent, error){
			"ParseCallback": ParseCallback,
			"owned body": func(b []byte) (*CallbackEvent, error) {
				return parseCallback(callbackInput{data: bytes.Clone(b), owned: true})
			},
		} {
			got, err := parse(body)
			if wantErr != nil {
				require.Error(t, err, name)
				assert.Equal(t, wantErr.Error(), err.Error(), name)
				continue
			}
			require.NoError(t, err, name)
			assert.Equal(t, want, got, name)
		}
	})
}

// FuzzCallbackEventKeyAsBefore: Key, built in one buffer, is the
// fmt.Sprintf form it had (a Store's keys must not change across the
// upgrade, or a callback processed before it would run again), for any
// ids, times, progress, decision and audit status (a long one too).
func FuzzCallbackEventKeyAsBefore(f *testing.F) {
	f.Add(int64(123), int64(1623867890), 100, uint8(1), 0, "Accepted")
	f.Add(int64(-1), int64(-62135596800), -5, uint8(2), -3, strings.Repeat("é:", 60))
	f.Add(int64(math.MaxInt64), int64(math.MinInt64/1_000_000_000), math.MaxInt, uint8(0), math.MinInt, "")
	f.Fuzz(func(t *testing.T, id, unix int64, progress int, decision uint8, state int, audit string) {
		when := Timestamp{time.Unix(unix, 0)}
		task := &TaskSummary{TaskID: ID(id), UpdateTime: when, Progress: progress}
		accepted := "undecided"
		if decision%3 > 0 {
			ok := decision%3 == 1
			task.Report = &TaskReport{Accepted: &ok}
			accepted = strconv.FormatBool(ok)
		}
		want := fmt.Sprintf("task:%d:%d:%d:%s", task.TaskID, task.UpdateTime.Unix(), task.Progress, accepted)
		require.Equal(t, want, (&CallbackEvent{Kind: CallbackTask, Task: task}).Key())
		idv := &IDVTask{IDVTaskID: ID(id), State: IDVState(state), AuditStatus: IDVAuditStatus(audit), AuditTimestamp: when}
		want = fmt.Sprintf("idv:%d:%d:%s:%d", idv.IDVTaskID, idv.State, idv.AuditStatus, idv.AuditTimestamp.Unix())
		require.Equal(t, want, (&CallbackEvent{Kind: CallbackIDV, IDV: idv}).Key())
	})
}
