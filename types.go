package kryptogo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kyabc/kryptogo-go/internal/jsonscan"
)

// ID identifies a record; it decodes a number or a numeric string.
type ID int64

// String returns the id in decimal, as it appears in API paths.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// MarshalJSON encodes the id as a JSON number.
func (id ID) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(id), 10), nil }

// UnmarshalJSON decodes a JSON number, a numeric string, null or "".
func (id *ID) UnmarshalJSON(data []byte) error {
	if n, ok := jsonscan.SmallUint(data); ok { // the usual form, parsed without copies
		*id = ID(n)
		return nil
	}
	text, isNull, err := jsonscan.ScalarText(data)
	if err != nil || isNull {
		*id = 0
		return err
	}
	if !jsonscan.IsDecimalNumber(text) {
		*id = 0
		return errors.New("kryptogo: an id must be an integer or a numeric string")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// Some JSON encoders write integral floats as 12.0 or 1.2e1.
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != float64(int64(f)) {
			return errors.New("kryptogo: an id must be an integer or a numeric string")
		}
		n = int64(f)
	}
	*id = ID(n)
	return nil
}

// Timestamp is a time as the API sends it: unix seconds or RFC 3339, in UTC;
// null, "" and 0 are the zero time.
type Timestamp struct {
	time.Time
}

// MarshalJSON encodes the time as unix seconds; the zero time as 0.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("0"), nil
	}
	return strconv.AppendInt(nil, t.Unix(), 10), nil
}

// UnmarshalJSON decodes unix seconds, RFC 3339 strings, null, "" and 0.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	if secs, ok := jsonscan.SmallUint(data); ok && secs <= maxUnixSeconds { // the usual form
		t.Time = time.Time{}
		if secs != 0 {
			t.Time = time.Unix(secs, 0).UTC()
		}
		return nil
	}
	text, isNull, err := jsonscan.ScalarText(data)
	if err != nil || isNull {
		t.Time = time.Time{}
		return err
	}
	if jsonscan.IsDecimalNumber(text) {
		t.Time, err = unixTime(text)
		return err
	}
	parsed, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		t.Time = time.Time{}
		return errors.New("kryptogo: a timestamp must be unix seconds or RFC 3339")
	}
	t.Time = parsed.UTC()
	return nil
}

// maxUnixSeconds is 9999-12-31T23:59:59Z, the last second RFC 3339 can
// write. Past it (and below 0) a value is a broken or forged answer, not a
// time: NaN, infinities and 1e300 once all decoded to year 292277026304.
const maxUnixSeconds = 253402300799

// unixTime converts decimal unix seconds, with an optional fraction, in
// 0..maxUnixSeconds; 0 is the zero time.
func unixTime(text string) (time.Time, error) {
	secs, err := strconv.ParseFloat(text, 64)
	if err != nil || secs < 0 || secs > maxUnixSeconds {
		return time.Time{}, errors.New("kryptogo: a unix timestamp must be between 0 and 253402300799 (year 9999)")
	}
	if secs == 0 {
		return time.Time{}, nil
	}
	whole := int64(secs)
	nanos := int64((secs - float64(whole)) * 1e9)
	return time.Unix(whole, nanos).UTC(), nil
}

// RiskRating is the KYC risk rating that the API's 0-100 risk score maps to.
type RiskRating int

// The KYC risk ratings of the API reference.
const (
	RiskUnknown   RiskRating = iota // score outside 0-100
	RiskLow                         // 0-24 points
	RiskLowMedium                   // 25-49 points
	RiskMedium                      // 50-74 points
	RiskHigh                        // 75-99 points
	RiskVeryHigh                    // 100 points
)

// RatingForScore maps a 0-100 risk score to its rating.
func RatingForScore(score int) RiskRating {
	switch {
	case score < 0 || score > 100:
		return RiskUnknown
	case score == 100:
		return RiskVeryHigh
	case score >= 75:
		return RiskHigh
	case score >= 50:
		return RiskMedium
	case score >= 25:
		return RiskLowMedium
	default:
		return RiskLow
	}
}

var riskRatingNames = map[RiskRating]string{
	RiskUnknown:   "Unknown",
	RiskLow:       "Low",
	RiskLowMedium: "Low to medium",
	RiskMedium:    "Medium",
	RiskHigh:      "High",
	RiskVeryHigh:  "Very high",
}

// String returns the rating's name as the API reference spells it.
func (r RiskRating) String() string { return enumName(riskRatingNames, r, "RiskRating") }

// enumName returns the name of v, or Type(N) for a value the SDK does not know.
func enumName[T ~int](names map[T]string, v T, typeName string) string {
	if name, ok := names[v]; ok {
		return name
	}
	return typeName + "(" + strconv.Itoa(int(v)) + ")"
}

// SearchSource is a database a DD task searches.
type SearchSource int

// The search sources of the API reference.
const (
	SourceNegativeNews  SearchSource = 0
	SourceDowJones      SearchSource = 1
	SourceTaiwanCompany SearchSource = 2
	SourceTaiwanVerdict SearchSource = 3
	SourceSanctionList  SearchSource = 4
)

// AllSearchSources lists every source, sent for an empty SearchSource.
var AllSearchSources = []SearchSource{SourceNegativeNews, SourceDowJones, SourceTaiwanCompany, SourceTaiwanVerdict, SourceSanctionList}

var searchSourceNames = map[SearchSource]string{
	SourceNegativeNews:  "NegativeNews",
	SourceDowJones:      "DowJones",
	SourceTaiwanCompany: "TaiwanCompany",
	SourceTaiwanVerdict: "TaiwanVerdict",
	SourceSanctionList:  "SanctionList",
}

// String returns the source's name, or SearchSource(N) for an unknown one.
func (s SearchSource) String() string { return enumName(searchSourceNames, s, "SearchSource") }

func (s SearchSource) known() bool { _, ok := searchSourceNames[s]; return ok }

// SearchSources is a list of search sources; nested arrays decode flattened.
type SearchSources []SearchSource

// UnmarshalJSON decodes a flat or nested array of sources, or null.
func (s *SearchSources) UnmarshalJSON(data []byte) error {
	// The fast path validates what it takes (a direct call has nobody to
	// check its input first), so encoding/json's input is not scanned again.
	if flat, ok := jsonscan.SmallUints[SearchSource](data); ok {
		*s = flat
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("kryptogo: search_source: %w", err)
	}
	out := SearchSources{}
	if raw == nil {
		out = nil
	}
	for _, item := range raw {
		item = bytes.TrimSpace(item)
		if len(item) > 0 && item[0] == '[' {
			var nested SearchSources
			if err := nested.UnmarshalJSON(item); err != nil {
				return err
			}
			out = append(out, nested...)
			continue
		}
		var v SearchSource
		if err := json.Unmarshal(item, &v); err != nil {
			return fmt.Errorf("kryptogo: search_source: %w", err)
		}
		out = append(out, v)
	}
	*s = out
	return nil
}

// TargetType tells a KYC target (a person) from a KYB target (a company).
type TargetType int

// The target types of the API.
const (
	TargetKYC TargetType = 1
	TargetKYB TargetType = 2
)

var targetTypeNames = map[TargetType]string{TargetKYC: "KYC", TargetKYB: "KYB"}

// String returns KYC, KYB, or TargetType(N).
func (t TargetType) String() string { return enumName(targetTypeNames, t, "TargetType") }

// IDType is the kind of identity document an IDV task verifies.
type IDType string

// The document types of the API.
const (
	IDTypePassport       IDType = "PASSPORT"
	IDTypeDrivingLicense IDType = "DRIVING_LICENSE"
	IDTypeIDCard         IDType = "ID_CARD"
)

func (t IDType) known() bool {
	return t == IDTypePassport || t == IDTypeDrivingLicense || t == IDTypeIDCard
}

// IDSubType refines IDType in IDV results.
type IDSubType string

// The document sub-types seen in IDV results.
const (
	IDSubTypeNationalID             IDSubType = "NATIONAL_ID"
	IDSubTypeResidentPermitID       IDSubType = "RESIDENT_PERMIT_ID"
	IDSubTypeRegularDrivingLicense  IDSubType = "REGULAR_DRIVING_LICENSE"
	IDSubTypeLearningDrivingLicense IDSubType = "LEARNING_DRIVING_LICENSE"
	IDSubTypeEPassport              IDSubType = "E_PASSPORT"
)

// Gender is the gender printed on an identity document.
type Gender string

// The genders the API takes and answers.
const (
	GenderMale   Gender = "M"
	GenderFemale Gender = "F"
	GenderOther  Gender = "X"
)

func (g Gender) known() bool { return g == GenderMale || g == GenderFemale || g == GenderOther }

// IDVState is the outcome of an IDV task.
type IDVState int

// The IDV states of the API.
const (
	IDVStateMissing IDVState = -1 // not the API's: an answer without a state, never read as IDVAccept
	IDVAccept       IDVState = 0
	IDVReview       IDVState = 1
	IDVReject       IDVState = 2
	IDVPending      IDVState = 3
	IDVInitial      IDVState = 4
)

var idvStateNames = map[IDVState]string{
	IDVStateMissing: "Missing",
	IDVAccept:       "Accept",
	IDVReview:       "Review",
	IDVReject:       "Reject",
	IDVPending:      "Pending",
	IDVInitial:      "Initial",
}

// String returns the state's name, or IDVState(N) for an unknown one.
func (s IDVState) String() string { return enumName(idvStateNames, s, "IDVState") }

// Done reports whether verification has finished: accept, review or reject.
func (s IDVState) Done() bool { return s == IDVAccept || s == IDVReview || s == IDVReject }

// IDVAuditStatus is the manual audit decision on an IDV task.
type IDVAuditStatus string

// The IDV audit statuses of the API.
const (
	IDVAuditPending  IDVAuditStatus = "Pending"
	IDVAuditAccepted IDVAuditStatus = "Accepted"
	IDVAuditRejected IDVAuditStatus = "Rejected"
)

// AuditStatus is the accept/reject decision on a DD task.
type AuditStatus int

// The DD audit statuses of the API.
const (
	AuditUndecided AuditStatus = 0
	AuditAccepted  AuditStatus = 1
	AuditRejected  AuditStatus = 2
)

var auditStatusNames = map[AuditStatus]string{AuditUndecided: "Undecided", AuditAccepted: "Accepted", AuditRejected: "Rejected"}

// String returns the status's name, or AuditStatus(N) for an unknown one.
func (s AuditStatus) String() string { return enumName(auditStatusNames, s, "AuditStatus") }

// TaskOrigin tells how a DD task was created.
type TaskOrigin int

// The task origins of the API.
const (
	OriginUISingle TaskOrigin = 0 // a single search in the web console
	OriginUIBatch  TaskOrigin = 1 // a batch search in the web console
	OriginAPI      TaskOrigin = 2 // this API
)

var taskOriginNames = map[TaskOrigin]string{OriginUISingle: "UISingle", OriginUIBatch: "UIBatch", OriginAPI: "API"}

// String returns the origin's name, or TaskOrigin(N) for an unknown one.
func (o TaskOrigin) String() string { return enumName(taskOriginNames, o, "TaskOrigin") }

// SearchMode is how strictly a search setting matches names.
type SearchMode int

// The search modes of the API.
const (
	SearchModePrecise SearchMode = 1
	SearchModeFuzzy   SearchMode = 2
)

var searchModeNames = map[SearchMode]string{SearchModePrecise: "Precise", SearchModeFuzzy: "Fuzzy"}

// String returns the mode's name, or SearchMode(N) for an unknown one.
func (m SearchMode) String() string { return enumName(searchModeNames, m, "SearchMode") }

// Workflow is the acquisition workflow of a web or mobile IDV session.
type Workflow int

// The workflows of the API: 1xx verify the document, 2xx also the holder.
const (
	WorkflowMobile              Workflow = 3   // the only one of POST /idv/account
	WorkflowIDOnly              Workflow = 100 // camera and upload
	WorkflowIDOnlyCamera        Workflow = 101
	WorkflowIDOnlyUpload        Workflow = 102
	WorkflowIDAndIdentity       Workflow = 200 // camera and upload
	WorkflowIDAndIdentityCamera Workflow = 201
	WorkflowIDAndIdentityUpload Workflow = 202
)

var workflowNames = map[Workflow]string{
	WorkflowMobile:              "Mobile",
	WorkflowIDOnly:              "IDOnly",
	WorkflowIDOnlyCamera:        "IDOnlyCamera",
	WorkflowIDOnlyUpload:        "IDOnlyUpload",
	WorkflowIDAndIdentity:       "IDAndIdentity",
	WorkflowIDAndIdentityCamera: "IDAndIdentityCamera",
	WorkflowIDAndIdentityUpload: "IDAndIdentityUpload",
}

// String returns the workflow's name, or Workflow(N) for an unknown one.
func (w Workflow) String() string { return enumName(workflowNames, w, "Workflow") }

// isWeb reports whether POST /idv/init takes the workflow.
func (w Workflow) isWeb() bool {
	switch w {
	case WorkflowIDOnly, WorkflowIDOnlyCamera, WorkflowIDOnlyUpload,
		WorkflowIDAndIdentity, WorkflowIDAndIdentityCamera, WorkflowIDAndIdentityUpload:
		return true
	}
	return false
}

// Chain is the blockchain of a KYA address.
type Chain string

// The chains POST /kya supports today.
const (
	ChainETH Chain = "eth"
	ChainBTC Chain = "btc"
)

// Metadata is one custom key-value pair attached to a DD task.
type Metadata struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MetadataList is a DD task's metadata, from an array of pairs or an object.
type MetadataList []Metadata

// UnmarshalJSON decodes an array of pairs, an object, or null.
func (m *MetadataList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		*m = nil
		return nil
	case data[0] == '{':
		return m.decodeObject(data)
	default:
		// The fast path validates what it reads (UnmarshalJSON may be
		// called directly); encoding/json reports what it refuses.
		if pairs, ok := plainKeyValues(data); ok {
			*m = pairs
			return nil
		}
		var pairs []Metadata
		if err := json.Unmarshal(data, &pairs); err != nil {
			return fmt.Errorf("kryptogo: metadata: %w", err)
		}
		*m = pairs
		return nil
	}
}

func (m *MetadataList) decodeObject(data []byte) error {
	if pairs, ok := plainStringPairs(data); ok { // validates, as for an array
		*m = pairs
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("kryptogo: metadata: %w", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(MetadataList, 0, len(keys))
	for _, k := range keys {
		out = append(out, Metadata{Key: k, Value: jsonValueText(obj[k])})
	}
	*m = out
	return nil
}

// plainStringPairs reads the usual metadata object, string values with
// no escapes and no repeated key, as pairs sorted by key without a
// decoder; ok is false for any other object and for what is not JSON.
func plainStringPairs(data []byte) (MetadataList, bool) {
	// Four quotes a pair when no string has an escape (any other object
	// is refused): the list is made at its size, up to maxGuessedPairs.
	out := make(MetadataList, 0, guessPairs(data, 4))
	if !jsonscan.StringPairs(data, func(key, value string) { out = append(out, Metadata{Key: key, Value: value}) }) {
		return nil, false
	}
	slices.SortFunc(out, func(a, b Metadata) int { return strings.Compare(a.Key, b.Key) })
	for j := 1; j < len(out); j++ {
		if out[j].Key == out[j-1].Key {
			return nil, false // encoding/json keeps the last: leave it to it
		}
	}
	return out, true // not nil: made above
}

// maxGuessedPairs bounds the list made before the pairs are read: the
// quotes are counted before the scan refuses what is not plain pairs (an
// array value, escapes), and a large answer of that kind would have a list
// of megabytes made for nothing. A longer list grows as it is read.
const maxGuessedPairs = 64

// guessPairs is the number of pairs quotesPerPair quotes each make of
// data's, at most maxGuessedPairs.
func guessPairs(data []byte, quotesPerPair int) int {
	return min(bytes.Count(data, []byte{'"'})/quotesPerPair, maxGuessedPairs)
}

// plainKeyValues reads the usual metadata array, pairs of plain strings
// ({"key":…,"value":…}, no escapes, no other member), without a decoder;
// ok is false for any other array, which encoding/json decodes, and for
// what is not JSON.
func plainKeyValues(data []byte) (MetadataList, bool) {
	// Eight quotes a pair when no string has an escape (any other array
	// is refused): the list is made at its size, up to maxGuessedPairs.
	out := make(MetadataList, 0, guessPairs(data, 8))
	if !jsonscan.KeyValues(data, "key", "value", func(key, value string) { out = append(out, Metadata{Key: key, Value: value}) }) {
		return nil, false
	}
	return out, true
}

// jsonValueText returns a JSON string's text, or any other value's JSON.
func jsonValueText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	// A non-string value is kept as its JSON text, made valid UTF-8 the way
	// encoding/json treats strings, so that encoding the list and decoding
	// it again gives the same values.
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// Get returns the value of the first pair with the given key.
func (m MetadataList) Get(key string) (string, bool) {
	for _, kv := range m {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}
