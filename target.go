package kryptogo

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	"github.com/kyabc/kryptogo-go/internal/check"
	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// Target is the person or company a DD task searches; it prints as its type.
type Target struct {
	Type        TargetType     `json:"type"`
	Name        string         `json:"name"`
	Birthday    string         `json:"birthday,omitempty"`    // KYC: YYYY-MM-DD
	Citizenship string         `json:"citizenship,omitempty"` // KYC: ISO 3166-1 alpha-3 or numeric
	Extra       map[string]any `json:"-"`                     // attributes the API does not document, both ways
}

func (t Target) view() redactedView {
	return view("Target", slog.String("type", t.Type.String()))
}

// Format prints the redacted form for every verb.
func (t Target) Format(f fmt.State, verb rune) { t.view().format(f, verb) }

// LogValue logs the redacted form.
func (t Target) LogValue() slog.Value { return t.view().logValue() }

// appendPersonal appends the name and birthday, those not empty.
func (t *Target) appendPersonal(out []string) []string {
	for _, v := range [2]string{t.Name, t.Birthday} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// KYCTarget returns a person's target; birthday and citizenship may be empty.
func KYCTarget(name, birthday, citizenship string) Target {
	return Target{Type: TargetKYC, Name: name, Birthday: birthday, Citizenship: citizenship}
}

// KYBTarget returns the target of a search on a company.
func KYBTarget(name string) Target {
	return Target{Type: TargetKYB, Name: name}
}

var targetFields = map[string]bool{"type": true, "name": true, "birthday": true, "citizenship": true}

// MarshalJSON encodes the documented fields and the Extra attributes.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	base, err := json.Marshal(plain(t))
	if err != nil || len(t.Extra) == 0 {
		return base, err
	}
	keys := make([]string, 0, len(t.Extra))
	for k := range t.Extra {
		if targetFields[k] {
			return nil, fmt.Errorf("kryptogo: target extra field %q shadows a documented field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := base[:len(base)-1] // drop the closing brace
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(t.Extra[k])
		if err != nil {
			return nil, fmt.Errorf("kryptogo: target extra field %q: %w", k, err)
		}
		out = append(append(append(append(out, ','), kb...), ':'), vb...)
	}
	return append(out, '}'), nil
}

// UnmarshalJSON decodes the documented fields and keeps the others in Extra.
func (t *Target) UnmarshalJSON(data []byte) error {
	type plain Target // its name is in the errors' text
	if err := json.Unmarshal(data, (*plain)(t)); err != nil {
		return err
	}
	t.setExtra(data)
	return nil
}

// plainTarget is a Target without its methods: what a model decoded as a
// whole reads its target into (taskDetailShadow), with setExtra after.
type plainTarget Target

// setExtra keeps in Extra the members of data, the target's JSON that
// json.Unmarshal accepted, outside the documented ones: nothing for null.
func (t *Target) setExtra(data []byte) {
	t.Extra = nil
	if !jsonscan.HasKeyOutside(data, targetFields) {
		return // the usual target: no second decode into a map
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		return // null or not an object: nothing extra
	}
	for k, v := range all {
		if !targetFields[k] {
			if t.Extra == nil {
				t.Extra = map[string]any{}
			}
			t.Extra[k] = v
		}
	}
}

func (t *Target) validate(v *validator) {
	switch t.Type {
	case TargetKYC, TargetKYB:
	default:
		v.addf("target.type", "must be 1 (KYC) or 2 (KYB), got %d", t.Type)
	}
	v.required("target.name", t.Name)
	v.optional("target.birthday", t.Birthday, check.Date)
	v.optional("target.citizenship", t.Citizenship, check.Country)
	for k := range t.Extra {
		if targetFields[k] {
			v.addf("target."+k, "is set both as a field and in Extra")
		}
	}
}
