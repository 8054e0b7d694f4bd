package kryptogo

import (
	"bytes"
	"encoding/json"
)

// The personal values each request carries. The request path masks them,
// as it masks the API key, in every error and log record it produces: a
// 400 answer may quote the submitted name or birthday. A customer
// reference is the caller's own id for the customer, not personal data by
// itself, and is not masked; nor are countries and document types.

// personalData is a request that carries personal values.
type personalData interface {
	personalValues() []string
}

// personalValuesOf returns the personal values of a request body: one
// request, or a batch of tasks; for any other value (a map or a struct
// given to Do), those of its JSON encoding.
func personalValuesOf(v any, encoded []byte) []string {
	switch v := v.(type) {
	case personalData:
		return v.personalValues()
	case []CreateTaskRequest:
		return tasksPersonalValues(v)
	}
	return personalValuesInJSON(encoded)
}

// tasksPersonalValues returns the personal values of a batch of tasks.
func tasksPersonalValues(reqs []CreateTaskRequest) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.personalValues()...)
	}
	return out
}

// personalKeys are the JSON keys whose string values are personal, as the
// API spells them, for bodies the SDK did not build (Do with a map, raw
// JSON or a caller's struct).
var personalKeys = map[string]bool{
	"name": true, "birthday": true, "id_number": true, "full_name": true, "first_name": true, "last_name": true,
	"expected_name": true, "expected_birthday": true, "expected_id_number": true,
	"expected_issuing_date": true, "expected_expiry_date": true, "tw_id_apply_date": true, "tw_id_issue_site_id": true,
}

// personalValuesInJSON returns the string values of personalKeys anywhere
// in a JSON document, read token by token (the body may hold images).
func personalValuesInJSON(doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var out []string
	var stack []bool   // per open container: is it an object
	expectKey := false // the next string of the current object is a key
	key := ""
	for {
		tok, err := dec.Token()
		if err != nil { // the end, or not JSON: nothing more to find
			return out
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				stack = append(stack, tok == '{')
			} else if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				key, expectKey = tok, false
				continue
			}
			if personalKeys[key] && tok != "" {
				out = append(out, tok)
			}
		}
		expectKey = len(stack) > 0 && stack[len(stack)-1]
	}
}

// personalValues returns the target's name and birthday.
func (r CreateTaskRequest) personalValues() []string {
	return nonEmpty(r.Target.Name, r.Target.Birthday)
}

// personalValues returns the expected_* values compared with the document.
func (r CreateIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.ExpectedIssuingDate, r.ExpectedExpiryDate)
}

// personalValues returns the expected_* values and the Taiwan ID fields.
func (r InitWebIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.TWIDApplyDate, r.TWIDIssueSiteID)
}

// personalValues returns the expected_* values and the Taiwan ID fields.
func (r InitMobileIDVRequest) personalValues() []string {
	return nonEmpty(r.ExpectedName, r.ExpectedBirthday, r.ExpectedIDNumber, r.TWIDApplyDate, r.TWIDIssueSiteID)
}

func nonEmpty(values ...string) []string {
	out := values[:0]
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
