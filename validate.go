package kryptogo

import (
	"fmt"
	"strings"
)

// validator collects every broken rule of a request, so the caller sees them
// all at once instead of fixing one per attempt.
type validator struct {
	prefix string
	fields []FieldError
}

// add records msg against field, unless msg is empty (the rule passed).
func (v *validator) add(field, msg string) {
	if msg != "" {
		v.fields = append(v.fields, FieldError{Field: v.prefix + field, Message: msg})
	}
}

// addf records a formatted message against field.
func (v *validator) addf(field, format string, args ...any) {
	v.add(field, fmt.Sprintf(format, args...))
}

// required records a missing value unless s has a non-space character.
func (v *validator) required(field, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.add(field, "is required")
		return false
	}
	return true
}

// optional runs rule on s when s is set.
func (v *validator) optional(field, s string, rule func(string) string) {
	if s != "" {
		v.add(field, rule(s))
	}
}

// nested runs fn with field names prefixed by prefix.
func (v *validator) nested(prefix string, fn func()) {
	saved := v.prefix
	v.prefix += prefix
	fn()
	v.prefix = saved
}

// err returns the collected errors as a *ValidationError, or nil.
func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// invalid returns a ValidationError about one field.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// validateID checks a path parameter before it goes into a URL.
func validateID(field string, id ID) error {
	var v validator
	v.id(field, id)
	return v.err()
}

// id records an id that is not positive: ids go into paths.
func (v *validator) id(field string, id ID) {
	if id <= 0 {
		v.addf(field, "must be a positive id, got %d", id)
	}
}

// request is the one shape of every request type: defaults fills in, on
// the copy that is sent, what a caller may leave out, and validate records
// every rule of the API reference the request breaks.
type request[R any] interface {
	*R
	defaults()
	validate(v *validator)
}

// pathID is an id parameter of a request's path.
type pathID struct {
	field string
	id    ID
}

// prepare returns the copy of req to send, with its defaults filled in,
// or a *ValidationError listing every broken rule of the path ids and of
// req. The caller's value is never modified.
func prepare[R any, P request[R]](req *R, ids ...pathID) (*R, error) {
	var v validator
	for _, p := range ids {
		v.id(p.field, p.id)
	}
	if req == nil {
		v.add("request", "is required")
		return nil, v.err()
	}
	out := *req
	P(&out).defaults()
	P(&out).validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return &out, nil
}
