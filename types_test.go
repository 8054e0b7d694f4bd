package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kyabc/kryptogo-go/internal/jsonscan"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want ID
	}{
		{`12`, 12}, {`"12"`, 12}, {`" 12 "`, 12}, {`null`, 0}, {`""`, 0}, {`0`, 0},
		{`12.0`, 12}, {`1.2e1`, 12}, {`9007199254740993`, 9007199254740993},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var id ID
			require.NoError(t, json.Unmarshal([]byte(tc.in), &id), tc.in)
			assert.Equal(t, tc.want, id, tc.in)
		})
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
	t.Parallel()
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
		t.Run(tc.in, func(t *testing.T) {
			var got Timestamp
			require.NoError(t, json.Unmarshal([]byte(tc.in), &got), tc.in)
			assert.True(t, tc.want.Equal(got.Time), "%s: got %v", tc.in, got.Time)
			if !got.IsZero() {
				assert.Equal(t, time.UTC, got.Location(), tc.in)
			}
		})
	}
	for _, bad := range []string{`"yesterday"`, `true`, `{}`, `"2022-01-10"`} {
		var got Timestamp
		assert.Error(t, json.Unmarshal([]byte(bad), &got), bad)
	}
}

func TestTimestampEncoding(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal([]Timestamp{ts(1641807000), {}})
	require.NoError(t, err)
	assert.Equal(t, `[1641807000,0]`, string(b))
}

func TestRatingForScore(t *testing.T) {
	t.Parallel()
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
		t.Run(tc.name, func(t *testing.T) {
			got := RatingForScore(tc.score)
			assert.Equal(t, tc.want, got, "score %d", tc.score)
			assert.Equal(t, tc.name, got.String(), "score %d", tc.score)
		})
	}
	assert.Equal(t, "RiskRating(9)", RiskRating(9).String())
}

func TestEnumStrings(t *testing.T) {
	t.Parallel()
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
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.v.String())
		})
	}
}

func TestIDVStateDone(t *testing.T) {
	t.Parallel()
	done := map[IDVState]bool{IDVAccept: true, IDVReview: true, IDVReject: true,
		IDVPending: false, IDVInitial: false, IDVStateMissing: false, IDVState(9): false}
	for s, want := range done {
		assert.Equal(t, want, s.Done(), s.String())
	}
}

func TestUnknownEnumValuesDecode(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	for in, want := range map[string]SearchSources{
		`[0,1,4]`:       {0, 1, 4},
		`[[0,4],[2]]`:   {0, 4, 2},
		`[[0],1,[[3]]]`: {0, 1, 3},
		`[]`:            {},
		`null`:          nil,
	} {
		t.Run(in, func(t *testing.T) {
			var got SearchSources
			require.NoError(t, json.Unmarshal([]byte(in), &got), in)
			assert.Equal(t, want, got, in)
		})
	}
	var got SearchSources
	assert.Error(t, json.Unmarshal([]byte(`["news"]`), &got))
	assert.Error(t, json.Unmarshal([]byte(`{}`), &got))
}

func TestMetadataListDecoding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]MetadataList{
		`[{"key":"a","value":"1"},{"key":"b","value":"2"}]`: {{"a", "1"}, {"b", "2"}},
		`{"b":"2","a":"1"}`:                {{"a", "1"}, {"b", "2"}},
		`{"n":7,"nil":null,"obj":{"x":1}}`: {{"n", "7"}, {"nil", ""}, {"obj", `{"x":1}`}},
		`[]`:                               {},
		`{}`:                               {},
		`null`:                             nil,
	} {
		t.Run(in, func(t *testing.T) {
			var got MetadataList
			require.NoError(t, json.Unmarshal([]byte(in), &got), in)
			assert.Equal(t, want, got, in)
		})
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

// Values that are not a time in years 1970-9999 are errors, not year
// 292277026304: NaN, infinities, overflowing and negative unix seconds,
// and numbers in forms JSON does not have.
func TestTimestampRejectsOutOfRange(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	for _, bad := range []string{`"NaN"`, `"Inf"`, `1e300`, `"-Inf"`} {
		body := `{"task_id":9,"progress":100,"update_time":` + bad + `}`
		ev, err := ParseCallback([]byte(body))
		assert.Error(t, err, bad)
		assert.Nil(t, ev, bad)
	}
}

func TestIDRejectsNonDecimalNumbers(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`"0x10"`, `"NaN"`, `"Inf"`, `1e300`, `"1_000"`, `"+5"`} {
		var id ID
		assert.Error(t, json.Unmarshal([]byte(bad), &id), bad)
	}
	var id ID
	require.NoError(t, json.Unmarshal([]byte(`1.2e1`), &id))
	assert.Equal(t, ID(12), id)
}

// encodingTransport stands in for the network in request fuzzing: every
// request that passed validation must carry a valid JSON body (or none).
type encodingTransport struct {
	t    testing.TB
	sent int
}

func (e *encodingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	e.sent++
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			e.t.Fatalf("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
		}
		if len(body) > 0 && !json.Valid(body) {
			e.t.Fatalf("%s %s: an accepted request encoded as invalid JSON: %.200q", r.Method, r.URL.Path, body)
		}
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
}

// fuzzClient returns a client whose requests end at an encodingTransport.
func fuzzClient(t testing.TB) (*Client, *encodingTransport) {
	rt := &encodingTransport{t: t}
	c, err := NewClient(testKey, WithHTTPClient(&http.Client{Transport: rt}), WithMaxRetries(0))
	require.NoError(t, err)
	return c, rt
}

// requireValidatedOrSent fails unless err is a ValidationError with nothing
// sent, or the request was sent.
func requireValidatedOrSent(t *testing.T, err error, rt *encodingTransport) {
	t.Helper()
	if errors.Is(err, ErrInvalidRequest) {
		require.Zero(t, rt.sent, "a request that failed validation was sent")
		return
	}
	require.Equal(t, 1, rt.sent, "a valid request was not sent: %v", err)
}

func FuzzID(f *testing.F) {
	for _, s := range []string{`12`, `"12"`, `null`, `""`, `1.2e1`, `-5`, `"NaN"`, `1e300`, `"0x10"`, `true`, `{}`, `9223372036854775807`, `"  7 "`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var id ID
		if json.Unmarshal([]byte(in), &id) != nil {
			return
		}
		out, err := json.Marshal(id)
		require.NoError(t, err)
		var again ID
		require.NoError(t, json.Unmarshal(out, &again))
		require.Equal(t, id, again)
	})
}

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{`1641807000`, `"1641807000"`, `"2022-01-10T17:30:00+08:00"`, `1641807000.5`, `null`, `""`, `0`,
		`"NaN"`, `"Inf"`, `1e300`, `-1`, `253402300799`, `"0001-01-01T00:00:00Z"`, `"9999-12-31T23:59:59.999999999Z"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var ts Timestamp
		if json.Unmarshal([]byte(in), &ts) != nil {
			require.True(t, ts.IsZero(), "a failed decode left %v", ts.Time)
			return
		}
		out, err := json.Marshal(ts)
		require.NoError(t, err)
		var again Timestamp
		// Unix seconds before 1970 (from RFC 3339) do not decode again:
		// the round trip is stable for the range the API uses.
		if ts.Unix() < 0 {
			return
		}
		require.NoError(t, json.Unmarshal(out, &again), "%s encoded as %s", in, out)
		// Compare encodings: a time within the first second after the
		// epoch encodes as 0, which is the zero time.
		out2, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(out), string(out2))
	})
}

func FuzzMetadataList(f *testing.F) {
	for _, s := range []string{`[{"key":"a","value":"b"}]`, `{"a":"b","c":1,"d":null,"e":{"x":[1]}}`, `null`, `[]`, `{}`, `"x"`, `[1]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var m MetadataList
		if json.Unmarshal([]byte(in), &m) != nil {
			return
		}
		out, err := json.Marshal(m)
		require.NoError(t, err)
		var again MetadataList
		require.NoError(t, json.Unmarshal(out, &again))
		require.Equal(t, len(m), len(again))
		for i := range m {
			require.Equal(t, m[i], again[i])
		}
	})
}

// FuzzEnums decodes every enum (and the source list that flattens nested
// arrays) from arbitrary JSON: no panic, and String never panics either.
func FuzzEnums(f *testing.F) {
	for _, s := range []string{`0`, `4`, `-1`, `99999999999`, `"PASSPORT"`, `[0,[1,[2]]]`, `[[[[]]]]`, `null`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		data := []byte(in)
		var sources SearchSources
		if json.Unmarshal(data, &sources) == nil {
			for _, s := range sources {
				_ = s.String()
			}
		}
		var enums struct {
			R  RiskRating
			S  SearchSource
			T  TargetType
			I  IDType
			IS IDSubType
			G  Gender
			V  IDVState
			A  IDVAuditStatus
			AS AuditStatus
			O  TaskOrigin
			M  SearchMode
			W  Workflow
			C  Chain
		}
		for _, field := range []string{"R", "S", "T", "I", "IS", "G", "V", "A", "AS", "O", "M", "W", "C"} {
			_ = json.Unmarshal([]byte(`{"`+field+`":`+in+`}`), &enums)
		}
		_ = fmt.Sprint(enums.R, enums.S, enums.T, enums.V, enums.AS, enums.O, enums.M, enums.W)
	})
}

// FuzzResponseModels decodes arbitrary JSON into every top-level model:
// never a panic, and what decodes re-encodes to JSON that decodes to the
// same encoding.
func FuzzResponseModels(f *testing.F) {
	for _, name := range []string{"kya_result.json", "task_summary.json", "task_summary_nulls.json", "task_detail.json",
		"task_detail_nested_sources.json", "tasks_history.json", "idv_task.json", "idv_task_quirks.json",
		"idv_init_response.json", "idv_account_response.json", "task_create_response.json", "callback_task.json"} {
		seed, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(string(seed))
	}
	f.Add(`{"target":{"type":1,"name":"a","Name":"b","x":{"y":[1,2]}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		for _, model := range []func() any{
			func() any { return new(KYAResult) }, func() any { return new(CreatedTask) },
			func() any { return new([]CreatedTask) }, func() any { return new(TaskSummary) },
			func() any { return new(TaskDetail) }, func() any { return new(SetAcceptedResult) },
			func() any { return new(TaskPage) }, func() any { return new(CreatedIDV) },
			func() any { return new(IDVTask) }, func() any { return new(WebIDVSession) },
			func() any { return new(MobileIDVSession) },
		} {
			assertStableRoundTrip(t, in, model)
		}
	})
}

func assertStableRoundTrip(t *testing.T, in string, model func() any) {
	first := model()
	if json.Unmarshal([]byte(in), first) != nil {
		return
	}
	_ = fmt.Sprintf("%v %+v %#v", first, first, first)
	enc1, err := json.Marshal(first)
	if err != nil {
		return // a Target whose Extra holds a documented field's name
	}
	second := model()
	require.NoError(t, json.Unmarshal(enc1, second), "%T re-decoding %s", first, enc1)
	enc2, err := json.Marshal(second)
	require.NoError(t, err)
	require.JSONEq(t, string(enc1), string(enc2), "%T", first)
}

// The fast paths of ID, Timestamp and SearchSources agree with the general
// decoding on the forms they take, and leave every other form to it.
func TestDecodeFastPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		fast bool
		want SearchSources
	}{
		{`[]`, true, SearchSources{}},
		{`[0,1,2,3,4]`, true, AllSearchSources},
		{` [ 4 , 4 ] `, true, SearchSources{4, 4}},
		{`[7]`, true, SearchSources{7}},
		{`[[1],2]`, false, SearchSources{1, 2}},
		{`[1.0]`, false, nil},
		{`[-1]`, false, SearchSources{-1}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, fast := jsonscan.SmallUints[SearchSource]([]byte(tc.in))
			assert.Equal(t, tc.fast, fast, tc.in)
			var got SearchSources
			if err := json.Unmarshal([]byte(tc.in), &got); tc.want == nil {
				assert.Error(t, err, tc.in)
			} else {
				assert.Equal(t, tc.want, got, tc.in)
			}
		})
	}
	for in, fast := range map[string]bool{
		`{}`: true, `{"region":"APAC","customer_tier":"gold"}`: true, ` { "a" : "b" , "A" : "c" } `: true,
		`{"a":"b","a":"c"}`: false, `{"a":"\u00e9"}`: false, `{"a":1,"b":"x"}`: false, `{"a":null}`: false,
	} {
		t.Run(in, func(t *testing.T) {
			pairs, ok := plainStringPairs([]byte(strings.TrimSpace(in)))
			assert.Equal(t, fast, ok, in)
			var obj map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(in), &obj), in)
			var got MetadataList
			require.NoError(t, json.Unmarshal([]byte(in), &got), in)
			assert.Len(t, got, len(obj), in)
			if ok {
				assert.Equal(t, got, pairs, in)
			}
		})
	}
	_, ok := jsonscan.SmallUints[SearchSource]([]byte(`[1,]`))
	assert.False(t, ok, "a trailing comma is not a list")
	for in, want := range map[string]ID{`0`: 0, `12`: 12, `999999999999999999`: 999999999999999999} {
		t.Run(in, func(t *testing.T) {
			var id ID
			require.NoError(t, json.Unmarshal([]byte(in), &id))
			assert.Equal(t, want, id, in)
		})
	}
	var ts Timestamp
	require.NoError(t, json.Unmarshal([]byte(`1700470381`), &ts))
	assert.Equal(t, time.Unix(1700470381, 0).UTC(), ts.Time)
	assert.Error(t, json.Unmarshal([]byte(`253402300800`), &ts), "past year 9999 still fails")
	assert.True(t, ts.IsZero())
}

// MetadataList.UnmarshalJSON called on JSON that is not valid (as a
// caller may: only encoding/json validates first) is an error, never a
// panic nor a read past the end of data: its fast paths scan a string to
// its closing quote, which a cut answer does not have.
func TestMetadataListDirectInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`[{"key\`, `[{"key":"a\`, `[{"value":"a","key":"b\`, `{"a\`, `{"a":"b\`, `{"a":"b","c\`,
		`[{"key":"a`, `[{`, `[`, `{`, `{"a":"b"`, `[{"key":"a","value":"b"}`} {
		data := []byte(in)
		data = data[:len(data):len(data)] // no spare capacity to read into
		var m MetadataList
		require.NotPanics(t, func() { assert.Error(t, m.UnmarshalJSON(data), in) }, in)
	}
}

// FuzzMetadataListDirect: UnmarshalJSON on any bytes never panics, and on
// valid JSON decodes what encoding/json's path does (the fast paths for
// plain strings against a decoder into []Metadata or the object path).
func FuzzMetadataListDirect(f *testing.F) {
	for _, s := range []string{`[{"key":"a","value":"b"}]`, `[{"key":"a","value":"b\`, `{"a":"b\`, `{"a":"b","a":"c"}`,
		`[{"key":"a","key":"b","value":"c"}]`, `[{"KEY":"a","value":"b"}]`, "[{\"key\":\"\xff\",\"value\":\"b\"}]",
		`[{"key":"\u00e9","value":"b"}]`, `[{"key":"a","value":1}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		data := []byte(in)
		data = data[:len(data):len(data)]
		var m MetadataList
		err := m.UnmarshalJSON(data)
		if !json.Valid(data) {
			return
		}
		var want MetadataList
		wantErr := json.Unmarshal(data, &want)
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
			var pairs []Metadata
			wantErr = json.Unmarshal(data, &pairs)
			want = pairs
		}
		require.Equal(t, wantErr == nil, err == nil, "%q: %v, encoding/json %v", in, err, wantErr)
		if err == nil {
			require.Equal(t, want, m, in)
		}
	})
}

// Metadata the fast paths refuse (quotes that are not plain pairs: an
// array value, escapes) costs them no list made for the pairs its quotes
// would have been, only their one copy of the input: a 770 KB object of
// that kind had 4.2 MB allocated for a list it never filled.
func TestMetadataFastPathsRefuseWithoutAGuessedList(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		read func([]byte) (MetadataList, bool)
	}{
		"object, string array": {`{"a":[` + strings.Repeat(`"",`, 1<<18) + `""]}`, plainStringPairs},
		"object, escapes":      {`{"a":"` + strings.Repeat(`\"`, 1<<18) + `"}`, plainStringPairs},
		"array of strings":     {`[` + strings.Repeat(`"",`, 1<<18) + `""]`, plainKeyValues},
		"array, escapes":       {`[{"key":"` + strings.Repeat(`\"`, 1<<18) + `","value":""}]`, plainKeyValues},
	} {
		data := []byte(tc.in)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 3
		for range runs {
			_, ok := tc.read(data)
			require.False(t, ok, "read as plain pairs")
		}
		runtime.ReadMemStats(&after)
		perRun := int64(after.TotalAlloc-before.TotalAlloc) / runs
		assert.LessOrEqual(t, perRun, int64(len(data))+64<<10, "%s: %d bytes in", name, len(data))
	}
}

// FuzzDirectUnmarshalRefusesInvalid: SearchSources and MetadataList, whose
// fast paths validate what they take, refuse what is not JSON when called
// directly (MetadataList takes its input with Unicode space trimmed, and
// empty input as null, as it did).
func FuzzDirectUnmarshalRefusesInvalid(f *testing.F) {
	for _, s := range []string{`[1,2]`, `[1 2]`, `[01]`, `[1,]`, `{"a":"b"}`, `{"a":"b",}`, `{"a":"b"}}`, "{\"a\":\"b\x01\"}",
		`[{"key":"a","value":"b"}]`, `[{"key":"a","value":"b"}]]`, `[{"key":"a","value":"b"},]`, `[{"key":"a","value":"b"}`, "[1]\v"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:len(data):len(data)]
		var sources SearchSources
		if err := sources.UnmarshalJSON(data); err == nil {
			require.True(t, json.Valid(data), "SearchSources took %q", data)
		}
		var m MetadataList
		trimmed := bytes.TrimSpace(data)
		if err := m.UnmarshalJSON(data); err == nil && len(trimmed) > 0 {
			require.True(t, json.Valid(trimmed), "MetadataList took %q", data)
		}
	})
}
