package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// What a careful user writes by hand: net/http with a transport tuned for
// one busy host, a status check, and json.NewDecoder into plain structs.

// tunedTransport is net/http's default transport with enough idle
// connections for one busy host (the default keeps two). The generated
// clients get one too.
func tunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	return t
}

// errStatus is the hand-written code's error for an answer other than 200.
type errStatus int

func (e errStatus) Error() string { return "unexpected status " + strconv.Itoa(int(e)) }

// handDo sends a request with the key and decodes a 200 answer into out.
func handDo(ctx context.Context, hc *http.Client, method, url string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("GOFACT-API-TOKEN", apiKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return errStatus(resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body) // keep the connection reusable
	return err
}

// handTarget, handSearchSetting and handTaskDetail are the plain structs of
// the hand-written client (the root package's bench_test.go baseline).
type handTarget struct {
	Type        int    `json:"type"`
	Name        string `json:"name"`
	Birthday    string `json:"birthday,omitempty"`
	Citizenship string `json:"citizenship,omitempty"`
}

type handSearchSetting struct {
	Mode          int      `json:"mode"`
	TimeRangeYear int      `json:"time_range_year"`
	Language      string   `json:"language"`
	NegativeWords []string `json:"negative_words"`
	Sites         []string `json:"sites"`
	NumberOfPages int      `json:"number_of_pages"`
}

type handTaskDetail struct {
	TaskID                 int64             `json:"task_id"`
	Target                 handTarget        `json:"target"`
	SearchSetting          handSearchSetting `json:"search_setting"`
	SearchSource           []int             `json:"search_source"`
	CallbackURL            string            `json:"callback_url"`
	CustomerReference      string            `json:"customer_reference"`
	Result                 json.RawMessage   `json:"result"`
	SanctionMatched        bool              `json:"sanction_matched"`
	CompletedSource        int               `json:"completed_source"`
	PotentialRisk          int               `json:"potential_risk"`
	AuditStatus            int               `json:"audit_status"`
	Comment                string            `json:"comment"`
	AuditTime              int64             `json:"audit_time"`
	AuditorEmployeeID      int64             `json:"auditor_employee_id"`
	AuditorEmployeeName    string            `json:"auditor_employee_name"`
	AuditorEmployeeAccount string            `json:"auditor_employee_account"`
	EmployeeID             int64             `json:"employee_id"`
	EmployeeName           string            `json:"employee_name"`
	EmployeeAccount        string            `json:"employee_account"`
	CreationTime           int64             `json:"creation_time"`
	UpdateTime             int64             `json:"update_time"`
	CompletedTime          int64             `json:"completed_time"`
	FromIDVID              int64             `json:"from_idv_id"`
	CommentTime            *int64            `json:"comment_time"`
	CommentEmployeeID      *int64            `json:"comment_employee_id"`
	CommentEmployeeName    *string           `json:"comment_employee_name"`
	CommentEmployeeAccount *string           `json:"comment_employee_account"`
	Metadata               map[string]string `json:"metadata"`
	CommentLogs            json.RawMessage   `json:"comment_logs"`
	AMLSummarization       string            `json:"aml_summarization"`
	NextReviewAt           int64             `json:"next_review_at"`
}

// handTaskDetailQuirks is the detail as the hand-written client must decode
// the nested variant, which the plain struct refuses: ids and timestamps
// sent as strings, search_source as an array of arrays, metadata as an
// array. The quirk types are what a careful user writes for them.
type handTaskDetailQuirks struct {
	TaskID                 flexInt64         `json:"task_id"`
	Target                 handTarget        `json:"target"`
	SearchSetting          handSearchSetting `json:"search_setting"`
	SearchSource           flexSources       `json:"search_source"`
	CallbackURL            string            `json:"callback_url"`
	CustomerReference      string            `json:"customer_reference"`
	Result                 json.RawMessage   `json:"result"`
	SanctionMatched        bool              `json:"sanction_matched"`
	CompletedSource        int               `json:"completed_source"`
	PotentialRisk          int               `json:"potential_risk"`
	AuditStatus            int               `json:"audit_status"`
	Comment                string            `json:"comment"`
	AuditTime              flexTime          `json:"audit_time"`
	AuditorEmployeeID      flexInt64         `json:"auditor_employee_id"`
	AuditorEmployeeName    string            `json:"auditor_employee_name"`
	AuditorEmployeeAccount string            `json:"auditor_employee_account"`
	EmployeeID             flexInt64         `json:"employee_id"`
	EmployeeName           string            `json:"employee_name"`
	EmployeeAccount        string            `json:"employee_account"`
	CreationTime           flexTime          `json:"creation_time"`
	UpdateTime             flexTime          `json:"update_time"`
	CompletedTime          flexTime          `json:"completed_time"`
	FromIDVID              flexInt64         `json:"from_idv_id"`
	CommentTime            flexTime          `json:"comment_time"`
	CommentEmployeeID      flexInt64         `json:"comment_employee_id"`
	CommentEmployeeName    string            `json:"comment_employee_name"`
	CommentEmployeeAccount string            `json:"comment_employee_account"`
	Metadata               flexMetadata      `json:"metadata"`
	CommentLogs            json.RawMessage   `json:"comment_logs"`
	AMLSummarization       string            `json:"aml_summarization"`
	NextReviewAt           flexTime          `json:"next_review_at"`
}

// flexInt64 decodes a number, a numeric string or null (0).
type flexInt64 int64

func (v *flexInt64) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = 0
		return nil
	}
	n, err := strconv.ParseInt(string(bytes.Trim(b, `"`)), 10, 64)
	*v = flexInt64(n)
	return err
}

// flexTime decodes unix seconds (a number or a numeric string), an RFC 3339
// string, or null (0), as unix seconds.
type flexTime int64

func (v *flexTime) UnmarshalJSON(b []byte) error {
	var n flexInt64
	if err := n.UnmarshalJSON(b); err == nil {
		*v = flexTime(n)
		return nil
	}
	t, err := time.Parse(`"`+time.RFC3339+`"`, string(b))
	*v = flexTime(t.Unix())
	return err
}

// flexSources decodes search_source flat ([0, 4]) or nested ([[0, 4], [2]]).
type flexSources []int

func (v *flexSources) UnmarshalJSON(b []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*v = (*v)[:0]
	for _, item := range items {
		var one int
		if json.Unmarshal(item, &one) == nil {
			*v = append(*v, one)
			continue
		}
		var many []int
		if err := json.Unmarshal(item, &many); err != nil {
			return fmt.Errorf("search_source: %w", err)
		}
		*v = append(*v, many...)
	}
	return nil
}

// flexMetadata decodes metadata as an object or an array of pairs.
type flexMetadata map[string]string

func (v *flexMetadata) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var pairs []struct{ Key, Value string }
		if err := json.Unmarshal(b, &pairs); err != nil {
			return err
		}
		*v = make(flexMetadata, len(pairs))
		for _, p := range pairs {
			(*v)[p.Key] = p.Value
		}
		return nil
	}
	return json.Unmarshal(b, (*map[string]string)(v))
}

// handTaskSummary is the task summary a hand-written callback handler
// decodes.
type handTaskSummary struct {
	TaskID            int64             `json:"task_id"`
	SearchSetting     handSearchSetting `json:"search_setting"`
	Target            handTarget        `json:"target"`
	CustomerReference string            `json:"customer_reference"`
	Progress          int               `json:"progress"`
	TaskOrigin        int               `json:"task_origin"`
	CreationTime      int64             `json:"creation_time"`
	UpdateTime        int64             `json:"update_time"`
	AuditTime         int64             `json:"audit_time"`
	Report            *struct {
		SanctionMatched bool   `json:"sanction_matched"`
		PotentialRisk   int    `json:"potential_risk"`
		URL             string `json:"url"`
		Accepted        *bool  `json:"accepted"`
		Comment         string `json:"comment"`
	} `json:"report"`
	Metadata []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"metadata"`
}

// handCreateTask and handCreatedTask are the request and answer of
// POST /task.
type handCreateTask struct {
	SearchSettingID   int64      `json:"search_setting_id"`
	Target            handTarget `json:"target"`
	SearchSource      []int      `json:"search_source"`
	CallbackURL       string     `json:"callback_url,omitempty"`
	CustomerReference string     `json:"customer_reference,omitempty"`
}

type handCreatedTask struct {
	TaskID    int64 `json:"task_id"`
	Timestamp int64 `json:"timestamp"`
}

// handCreateTasks encodes the tasks and decodes the answer, which must have
// one entry per task.
func handCreateTasks(ctx context.Context, hc *http.Client, url string, tasks []handCreateTask) ([]handCreatedTask, error) {
	body, err := json.Marshal(tasks)
	if err != nil {
		return nil, err
	}
	var out []handCreatedTask
	if err := handDo(ctx, hc, http.MethodPost, url, bytes.NewReader(body), &out); err != nil {
		return nil, err
	}
	if len(out) != len(tasks) {
		return nil, errors.New("the answer does not have one entry per task")
	}
	return out, nil
}

// handKYAResult is the KYA result of the hand-written client.
type handKYAResult struct {
	KYAID             int64           `json:"kya_id"`
	Address           string          `json:"address"`
	Data              json.RawMessage `json:"data"`
	SDNList           json.RawMessage `json:"sdnlist"`
	TxList            json.RawMessage `json:"txlist"`
	CreationTimestamp int64           `json:"creation_timestamp"`
	CreatorAccount    string          `json:"creator_account"`
	CreatorEmail      string          `json:"creator_email"`
	CreatorName       string          `json:"creator_name"`
	CustomerReference *string         `json:"customer_reference"`
}

// mustJSON encodes v, which cannot fail for the benchmarks' values.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
