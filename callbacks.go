package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/kyabc/kryptogo-go/internal/jsonkeys"
	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// ErrInvalidCallback matches a body that is not a callback the SDK knows.
var ErrInvalidCallback = errors.New("kryptogo: invalid callback")

// CallbackKind tells a DD task callback from an IDV callback.
type CallbackKind int

// The kinds of callback.
const (
	CallbackTask CallbackKind = iota + 1 // a DD task summary
	CallbackIDV                          // an IDV task
)

// callbackKindNames are the names String returns, built once.
var callbackKindNames = map[CallbackKind]string{CallbackTask: "task", CallbackIDV: "idv"}

// String returns "task", "idv", or CallbackKind(N).
func (k CallbackKind) String() string { return enumName(callbackKindNames, k, "CallbackKind") }

// CallbackEvent is one decoded callback: exactly one of Task and IDV is set.
type CallbackEvent struct {
	Kind              CallbackKind
	Task              *TaskSummary
	IDV               *IDVTask
	CustomerReference string     // the verified URL's kg_ref, the record's customer; "" if unverified
	Params            url.Values // the verified URL's query without kg_sig; nil if unverified
	Verified          bool       // the URL's signature was checked
	Confirmed         bool       // Task or IDV was fetched from the API, not taken from the body

	// unread is the body of an event of which only the kind and the id
	// were read, for a confirmation (its record holds the id alone); nil
	// once confirmed. It never reaches the handler's functions.
	unread []byte
}

// ID returns the id of the task or IDV task the callback is about.
func (e *CallbackEvent) ID() ID {
	switch {
	case e.Task != nil:
		return e.Task.TaskID
	case e.IDV != nil:
		return e.IDV.IDVTaskID
	}
	return 0
}

// Key returns an idempotency key for the state the callback reports: a
// repeated delivery has the same key, a later change another.
func (e *CallbackEvent) Key() string {
	var buf [96]byte // the key is built in one allocation, its string
	b := buf[:0]
	switch {
	case e.Task != nil:
		t := e.Task
		accepted := "undecided"
		if t.Report != nil && t.Report.Accepted != nil {
			accepted = strconv.FormatBool(*t.Report.Accepted)
		}
		b = appendKeyInts(append(b, "task"...), int64(t.TaskID), t.UpdateTime.Unix(), int64(t.Progress))
		b = append(append(b, ':'), accepted...)
	case e.IDV != nil:
		v := e.IDV
		b = appendKeyInts(append(b, "idv"...), int64(v.IDVTaskID), int64(v.State))
		b = append(append(b, ':'), v.AuditStatus...)
		b = appendKeyInts(b, v.AuditTimestamp.Unix())
	default:
		return ""
	}
	return string(b)
}

// appendKeyInts appends ":n" for each n, in decimal.
func appendKeyInts(b []byte, ns ...int64) []byte {
	for _, n := range ns {
		b = strconv.AppendInt(append(b, ':'), n, 10)
	}
	return b
}

// RawJSON returns the JSON of the record the event carries.
func (e *CallbackEvent) RawJSON() json.RawMessage {
	switch {
	case e.Task != nil:
		return e.Task.RawJSON()
	case e.IDV != nil:
		return e.IDV.RawJSON()
	}
	return nil
}

// LogValue logs the event as its kind, id and key.
func (e CallbackEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", e.Kind.String()), slog.Int64("id", int64(e.ID())), slog.String("key", e.Key()))
}

func callbackError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidCallback}, args...)...)
}

// callbackKeys are the top-level keys that tell the kinds of callback
// apart, in the order of the bits of jsonkeys.Result.Has.
var callbackKeys = []string{"task_id", "idv_task_id"}

// ParseCallback decodes a callback body, a task summary or an IDV task.
func ParseCallback(body []byte) (*CallbackEvent, error) {
	return parseCallback(callbackInput{data: body})
}

// callbackInput is a body to decode, and what is known of it.
type callbackInput struct {
	data []byte
	// owned: data is the callback's alone (the handler read it), so the
	// record keeps it as its RawJSON without a copy.
	owned bool
	// scanned: data was read by jsonkeys.Scan, which found a repeated key
	// if duplicate; otherwise the decoded body is checked for one.
	scanned, duplicate bool
	// idOnly: only the kind and the id are decoded (CallbackEvent.unread),
	// for a handler that replaces the record with the API's (Confirm). The
	// body is still checked as JSON, one kind, without a repeated key.
	idOnly bool
}

// parseCallback reads the body once to validate it, find its kind and
// look for repeated keys (jsonkeys.Scan), then decodes it once into the
// record of its kind. The refusals come in the order the checks did when
// each was a pass of its own: not an object, not one kind, not a record,
// a repeated key.
func parseCallback(body callbackInput) (*CallbackEvent, error) {
	var spans [2]jsonkeys.Span // of callbackKeys' values
	scan, err := jsonkeys.ScanSpans(body.data, callbackKeys, spans[:])
	if err != nil || !scan.Object {
		return nil, callbackError("the body is not a JSON object")
	}
	body.scanned, body.duplicate = true, scan.Duplicate
	isTask, isIDV := scan.Has&1 != 0, scan.Has&2 != 0
	switch {
	case isTask && isIDV:
		return nil, callbackError("the body has both task_id and idv_task_id")
	case body.idOnly && isTask:
		return parseCallbackID(body, CallbackTask, spans[0])
	case body.idOnly && isIDV:
		return parseCallbackID(body, CallbackIDV, spans[1])
	case isTask:
		task, err := parseTask(body)
		if err != nil {
			return nil, err
		}
		return &CallbackEvent{Kind: CallbackTask, Task: task}, nil
	case isIDV:
		idv, err := parseIDV(body)
		if err != nil {
			return nil, err
		}
		return &CallbackEvent{Kind: CallbackIDV, IDV: idv}, nil
	}
	return nil, callbackError("the body is neither a DD task (task_id) nor an IDV task (idv_task_id)")
}

// parseCallbackID reads the id of a body of kind, whose value span
// (jsonkeys.ScanSpans) holds, and returns an event whose record holds that
// id alone: a confirmation replaces it, so decoding the rest would be
// wasted (it is decoded for the log if the confirmation fails:
// CallbackEvent.logKey). A zero span, for a key encoding/json could read
// otherwise (escaped, say), has the body decoded for the id. The refusals
// are parseTask's and parseIDV's for the id, and for a repeated key.
func parseCallbackID(body callbackInput, kind CallbackKind, span jsonkeys.Span) (*CallbackEvent, error) {
	what, missing := "task summary", "task summary without a task_id"
	if kind == CallbackIDV {
		what, missing = "IDV task", "IDV task without an idv_task_id"
	}
	var id ID
	var err error
	switch {
	case span != (jsonkeys.Span{}):
		err = id.UnmarshalJSON(body.data[span.Start:span.End])
	case kind == CallbackTask:
		var ids struct {
			ID ID `json:"task_id"`
		}
		err = valueFreeDecodeError(json.Unmarshal(body.data, &ids))
		id = ids.ID
	default:
		var ids struct {
			ID ID `json:"idv_task_id"`
		}
		err = valueFreeDecodeError(json.Unmarshal(body.data, &ids))
		id = ids.ID
	}
	switch {
	case err != nil:
		return nil, callbackError("%s: %v", what, err)
	case body.duplicate:
		return nil, callbackError("%s: %v", what, jsonkeys.ErrDuplicate)
	case id <= 0:
		return nil, callbackError("%s", missing)
	}
	e := &CallbackEvent{Kind: kind, unread: body.data}
	if kind == CallbackTask {
		e.Task = &TaskSummary{TaskID: id}
	} else {
		e.IDV = &IDVTask{IDVTaskID: id}
	}
	return e, nil
}

// logKey is the Key a log record shows: for an event of which only the id
// was read (a confirmation that failed), the body's record is decoded for
// it now; "" when it does not decode.
func (e *CallbackEvent) logKey() string {
	if e.unread == nil {
		return e.Key()
	}
	full, err := parseCallback(callbackInput{data: e.unread, owned: true})
	if err != nil {
		return ""
	}
	return full.Key()
}

// callbackRecord is the record a callback body decodes into.
type callbackRecord interface {
	plainDecoder
	rawKeeper
}

// decodeCallback decodes a callback body into record, and refuses a body
// that repeats a key (compared case-insensitively, as encoding/json matches
// them): the decoded record would hold the last of them while a
// case-sensitive or first-wins reader of RawJSON sees another, so the
// customer_reference the handler checks would not be the one handed on.
//
// The record is decoded without its UnmarshalJSON, which would scan the
// body once more only to hand it on.
func decodeCallback(body callbackInput, record callbackRecord) error {
	data := jsonscan.TrimSpace(body.data)
	if err := json.Unmarshal(data, record.decodeTarget()); err != nil {
		return valueFreeDecodeError(err) // a callback error is logged: quote no values
	}
	if !body.owned {
		data = bytes.Clone(data)
	}
	record.setRaw(data)
	switch {
	case !body.scanned:
		return jsonkeys.CheckUnique(body.data)
	case body.duplicate:
		return jsonkeys.ErrDuplicate
	}
	return nil
}

// ParseTaskCallback decodes the body of a DD task callback.
func ParseTaskCallback(body []byte) (*TaskSummary, error) {
	return parseTask(callbackInput{data: body})
}

func parseTask(body callbackInput) (*TaskSummary, error) {
	var task TaskSummary
	if err := decodeCallback(body, &task); err != nil {
		return nil, callbackError("task summary: %v", err)
	}
	if task.TaskID <= 0 {
		return nil, callbackError("task summary without a task_id")
	}
	return &task, nil
}

// ParseIDVCallback decodes the body of an IDV callback.
func ParseIDVCallback(body []byte) (*IDVTask, error) {
	return parseIDV(callbackInput{data: body})
}

func parseIDV(body callbackInput) (*IDVTask, error) {
	var task IDVTask
	if err := decodeCallback(body, &task); err != nil {
		return nil, callbackError("IDV task: %v", err)
	}
	if task.IDVTaskID <= 0 {
		return nil, callbackError("IDV task without an idv_task_id")
	}
	return &task, nil
}
