package kryptogo

// Issue 15, row 7: slog asks only the top-level value of an attribute for
// its LogValue, and a type whose LogValue has a pointer receiver is logged
// by value through its fields (the JSON handler marshals them, every
// personal value included). Every exported type that carries personal data
// logs safely by value and by pointer, through both handlers.

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
