package kryptogo

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
// request, or a batch of tasks.
func personalValuesOf(v any) []string {
	switch v := v.(type) {
	case personalData:
		return v.personalValues()
	case []CreateTaskRequest:
		var out []string
		for _, r := range v {
			out = append(out, r.personalValues()...)
		}
		return out
	}
	return nil
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
