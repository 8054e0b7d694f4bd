package kryptogo

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDDecoding(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ID
	}{
		{`12`, 12}, {`"12"`, 12}, {`" 12 "`, 12}, {`null`, 0}, {`""`, 0}, {`0`, 0},
		{`12.0`, 12}, {`1.2e1`, 12}, {`9007199254740993`, 9007199254740993},
	} {
		var id ID
		require.NoError(t, json.Unmarshal([]byte(tc.in), &id), tc.in)
		assert.Equal(t, tc.want, id, tc.in)
	}
	for _, bad := range []string{`"abc"`, `12.5`, `true`, `{}`, `[1]`} {
		var id ID
		assert.Error(t, json.Unmarshal([]byte(bad), &id), bad)
	}
	b, err := json.Marshal(struct{ ID ID }{42})
	require.NoError(t, err)
	assert.JSONEq(t, `{"ID":42}`, string(b))
	assert.Equal(t, "42", ID(42).String())
}

func TestTimestampDecoding(t *testing.T) {
	want := time.Date(2022, 1, 10, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`1641807000`, want},
		{`"1641807000"`, want},
		{`"2022-01-10T09:30:00Z"`, want},
		{`"2022-01-10T17:30:00+08:00"`, want},
		{`1641807000.5`, want.Add(500 * time.Millisecond)},
		{`null`, time.Time{}}, {`""`, time.Time{}}, {`0`, time.Time{}}, {`"0"`, time.Time{}},
	} {
		var got Timestamp
		require.NoError(t, json.Unmarshal([]byte(tc.in), &got), tc.in)
		assert.True(t, tc.want.Equal(got.Time), "%s: got %v", tc.in, got.Time)
		if !got.IsZero() {
			assert.Equal(t, time.UTC, got.Location(), tc.in)
		}
	}
	for _, bad := range []string{`"yesterday"`, `true`, `{}`, `"2022-01-10"`} {
		var got Timestamp
		assert.Error(t, json.Unmarshal([]byte(bad), &got), bad)
	}
}

func TestTimestampEncoding(t *testing.T) {
	b, err := json.Marshal([]Timestamp{ts(1641807000), {}})
	require.NoError(t, err)
	assert.Equal(t, `[1641807000,0]`, string(b))
}

func TestRatingForScore(t *testing.T) {
	for _, tc := range []struct {
		score int
		want  RiskRating
		name  string
	}{
		{0, RiskLow, "Low"}, {24, RiskLow, "Low"},
		{25, RiskLowMedium, "Low to medium"}, {49, RiskLowMedium, "Low to medium"},
		{50, RiskMedium, "Medium"}, {74, RiskMedium, "Medium"},
		{75, RiskHigh, "High"}, {99, RiskHigh, "High"},
		{100, RiskVeryHigh, "Very high"},
		{-1, RiskUnknown, "Unknown"}, {101, RiskUnknown, "Unknown"},
	} {
		got := RatingForScore(tc.score)
		assert.Equal(t, tc.want, got, "score %d", tc.score)
		assert.Equal(t, tc.name, got.String(), "score %d", tc.score)
	}
	assert.Equal(t, "RiskRating(9)", RiskRating(9).String())
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		v    interface{ String() string }
		want string
	}{
		{SourceSanctionList, "SanctionList"}, {SearchSource(9), "SearchSource(9)"},
		{TargetKYB, "KYB"}, {TargetType(0), "TargetType(0)"},
		{IDVReview, "Review"}, {IDVState(8), "IDVState(8)"}, {IDVStateMissing, "Missing"},
		{AuditRejected, "Rejected"}, {AuditStatus(5), "AuditStatus(5)"},
		{OriginAPI, "API"}, {TaskOrigin(7), "TaskOrigin(7)"},
		{SearchModeFuzzy, "Fuzzy"}, {SearchMode(0), "SearchMode(0)"},
		{WorkflowIDAndIdentity, "IDAndIdentity"}, {Workflow(999), "Workflow(999)"},
	} {
		assert.Equal(t, tc.want, tc.v.String())
	}
}

func TestIDVStateDone(t *testing.T) {
	done := map[IDVState]bool{IDVAccept: true, IDVReview: true, IDVReject: true,
		IDVPending: false, IDVInitial: false, IDVStateMissing: false, IDVState(9): false}
	for s, want := range done {
		assert.Equal(t, want, s.Done(), s.String())
	}
}

func TestUnknownEnumValuesDecode(t *testing.T) {
	var v struct {
		State  IDVState       `json:"state"`
		Origin TaskOrigin     `json:"origin"`
		Audit  IDVAuditStatus `json:"audit"`
		Type   IDType         `json:"type"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"state":42,"origin":9,"audit":"Escalated","type":"RESIDENCE_PERMIT"}`), &v))
	assert.Equal(t, IDVState(42), v.State)
	assert.Equal(t, TaskOrigin(9), v.Origin)
	assert.Equal(t, IDVAuditStatus("Escalated"), v.Audit)
	assert.Equal(t, IDType("RESIDENCE_PERMIT"), v.Type)
}

func TestSearchSourcesDecoding(t *testing.T) {
	for in, want := range map[string]SearchSources{
		`[0,1,4]`:       {0, 1, 4},
		`[[0,4],[2]]`:   {0, 4, 2},
		`[[0],1,[[3]]]`: {0, 1, 3},
		`[]`:            {},
		`null`:          nil,
	} {
		var got SearchSources
		require.NoError(t, json.Unmarshal([]byte(in), &got), in)
		assert.Equal(t, want, got, in)
	}
	var got SearchSources
	assert.Error(t, json.Unmarshal([]byte(`["news"]`), &got))
	assert.Error(t, json.Unmarshal([]byte(`{}`), &got))
}

func TestMetadataListDecoding(t *testing.T) {
	for in, want := range map[string]MetadataList{
		`[{"key":"a","value":"1"},{"key":"b","value":"2"}]`: {{"a", "1"}, {"b", "2"}},
		`{"b":"2","a":"1"}`:                {{"a", "1"}, {"b", "2"}},
		`{"n":7,"nil":null,"obj":{"x":1}}`: {{"n", "7"}, {"nil", ""}, {"obj", `{"x":1}`}},
		`[]`:                               {},
		`{}`:                               {},
		`null`:                             nil,
	} {
		var got MetadataList
		require.NoError(t, json.Unmarshal([]byte(in), &got), in)
		assert.Equal(t, want, got, in)
	}
	var got MetadataList
	assert.Error(t, json.Unmarshal([]byte(`"a=b"`), &got))

	list := MetadataList{{"a", "1"}, {"a", "2"}}
	v, ok := list.Get("a")
	assert.True(t, ok)
	assert.Equal(t, "1", v)
	_, ok = list.Get("z")
	assert.False(t, ok)

	b, err := json.Marshal(MetadataList{{"k", "v"}})
	require.NoError(t, err)
	assert.JSONEq(t, `[{"key":"k","value":"v"}]`, string(b), "encodes as the array form")
}

func TestTargetExtraRoundTrip(t *testing.T) {
	target := KYBTarget("KryptoGO Ltd.")
	target.Extra = map[string]any{"registration_number": "12345678", "country": "TWN"}
	b, err := json.Marshal(target)
	require.NoError(t, err)
	assert.Equal(t, `{"type":2,"name":"KryptoGO Ltd.","country":"TWN","registration_number":"12345678"}`, string(b))

	var back Target
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, target, back)

	plain, err := json.Marshal(KYCTarget("王又曾", "1990-06-21", "TWN"))
	require.NoError(t, err)
	assert.Equal(t, `{"type":1,"name":"王又曾","birthday":"1990-06-21","citizenship":"TWN"}`, string(plain))

	shadow := KYBTarget("x")
	shadow.Extra = map[string]any{"name": "y"}
	_, err = json.Marshal(shadow)
	assert.Error(t, err)

	bad := KYBTarget("x")
	bad.Extra = map[string]any{"f": func() {}}
	_, err = json.Marshal(bad)
	assert.Error(t, err)
}

// Values that are not a time in years 1970-9999 are errors, not year
// 292277026304: NaN, infinities, overflowing and negative unix seconds,
// and numbers in forms JSON does not have.
func TestTimestampRejectsOutOfRange(t *testing.T) {
	for _, bad := range []string{
		`"NaN"`, `"nan"`, `"Inf"`, `"+Inf"`, `"-Inf"`, `"Infinity"`, `1e300`, `"1e300"`, `-1e300`,
		`-1`, `"-1641807000"`, `253402300800`, `9223372036854775807`, `1e19`,
		`"0x10"`, `"0x1p30"`, `"1_000"`, `".5e9"`, `"+1641807000"`,
	} {
		t.Run(bad, func(t *testing.T) {
			var got Timestamp
			err := json.Unmarshal([]byte(bad), &got)
			require.Error(t, err)
			assert.True(t, got.IsZero(), "got %v", got.Time)
		})
	}
	var last Timestamp
	require.NoError(t, json.Unmarshal([]byte(`253402300799`), &last))
	assert.Equal(t, 9999, last.Year())
	var early Timestamp
	require.NoError(t, json.Unmarshal([]byte(`"1969-07-20T20:17:00Z"`), &early), "RFC 3339 keeps its own range")
}

// Callbacks whose times were NaN, infinite or huge once all decoded to the
// same time and so to the same Key(): a replayed forgery matched a real one.
func TestCallbackKeysOfBadTimesNoLongerCollide(t *testing.T) {
	for _, bad := range []string{`"NaN"`, `"Inf"`, `1e300`, `"-Inf"`} {
		body := `{"task_id":9,"progress":100,"update_time":` + bad + `}`
		ev, err := ParseCallback([]byte(body))
		assert.Error(t, err, bad)
		assert.Nil(t, ev, bad)
	}
}

func TestIDRejectsNonDecimalNumbers(t *testing.T) {
	for _, bad := range []string{`"0x10"`, `"NaN"`, `"Inf"`, `1e300`, `"1_000"`, `"+5"`} {
		var id ID
		assert.Error(t, json.Unmarshal([]byte(bad), &id), bad)
	}
	var id ID
	require.NoError(t, json.Unmarshal([]byte(`1.2e1`), &id))
	assert.Equal(t, ID(12), id)
}
