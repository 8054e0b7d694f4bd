package kryptogo

// The redaction audit (issue 8, item 3): every endpoint, through every way a
// call can end, with a JSON slog handler at debug level listening, must not
// let the API key or a personal value out through a log record, an error or
// the printing of anything the call handed back.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sentinels: distinctive enough that finding one anywhere is a leak.
const (
	auditKey      = "sk-live-AUDIT-5f1c2e9b7d"
	auditName     = "Zelda Quixote-Marlowe"
	auditBirthday = "1987-07-14"
	auditIDNumber = "A123456789"
	auditRef      = "c-audit-7"
)

// auditImage is a PNG of noise: its bytes and their base64 occur nowhere
// else, so any run of them in the output is the image leaking.
func auditImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 320, 24))
	rng := rand.New(rand.NewPCG(8, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.UintN(256))
	}
	img.SetGray(0, 0, color.Gray{Y: 1})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// base64Runs returns the runs of base64 text that encode only bytes of s,
// at each of the three alignments s can have inside a longer encoded
// text, in both alphabets: any base64 of a text holding s holds one.
func base64Runs(s string) []string {
	var out []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for shift := 0; shift <= 2; shift++ {
			text := enc.EncodeToString(append(make([]byte, shift), s...))
			start := 0
			if shift > 0 {
				start = 4 // the first group holds a foreign byte
			}
			end := (shift + len(s)) / 3 * 4
			out = append(out, text[start:end])
		}
	}
	return out
}

// auditNeedles is every spelling of a secret the audit searches for.
func auditNeedles(img []byte) map[string]string {
	needles := map[string]string{}
	for label, v := range map[string]string{"key": auditKey, "name": auditName, "birthday": auditBirthday, "id number": auditIDNumber} {
		needles[label] = v
		needles[label+` \u`] = escapeAll(v)
		needles[label+" %XX"] = percentAll(v)
		for i, run := range base64Runs(v) {
			needles[fmt.Sprintf("%s base64 #%d", label, i)] = run
		}
	}
	mid := len(img) / 2
	needles["image bytes"] = string(img[mid : mid+12])
	needles["image bytes %v"] = strings.Trim(fmt.Sprint(img[mid:mid+8]), "[]")
	needles["image bytes %x"] = fmt.Sprintf("%x", img[mid:mid+12])
	for i, run := range base64Runs(string(img[mid : mid+24])) {
		needles[fmt.Sprintf("image base64 #%d", i)] = run
	}
	return needles
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// assertNoSecrets fails for each needle found in out or in a decoded form
// of it (HTML entities, \u escapes, URL escapes peeled off).
func assertNoSecrets(t *testing.T, out string, needles map[string]string) {
	t.Helper()
	forms := decodedForms(out)
	for label, needle := range needles {
		for _, form := range forms {
			if i := strings.Index(form, needle); i >= 0 {
				t.Errorf("the %s leaks: …%s…", label, form[max(0, i-80):min(len(form), i+len(needle)+40)])
				break
			}
		}
	}
}

// exposure collects every text a call's outcome can reach a reader by: the
// log records, and the printing and logging of the request, the result and
// the error, by value and by pointer, nested in a struct too.
func exposure(logger *slog.Logger, logs fmt.Stringer, values ...any) string {
	var b strings.Builder
	for _, v := range values {
		shapes := []any{v, struct{ V any }{v}, &struct{ V any }{v}}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
			shapes = append(shapes, rv.Elem().Interface(), struct{ V any }{rv.Elem().Interface()})
		}
		if err, ok := v.(error); ok && err != nil {
			b.WriteString(err.Error() + "\n")
		}
		for _, shape := range shapes {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				fmt.Fprintf(&b, verb+"\n", shape)
			}
		}
		logOutcome(logger, v)
	}
	return b.String() + logs.String()
}

// logOutcome logs v as a user would: the value, what it points to, and
// each element of a slice. slog resolves LogValuer only at an attribute's
// top level; a model nested in another struct or in a slice is encoded by
// json.Marshal, which must keep every field (models are stored as JSON), so
// those shapes are left to the fmt checks.
func logOutcome(logger *slog.Logger, v any) {
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid() || rv.Kind() == reflect.Pointer && rv.IsNil():
		// A nil model pointer makes slog report "LogValue panicked" (the
		// redaction methods have value receivers): noise, not a leak.
	case rv.Kind() == reflect.Slice:
		for i := range rv.Len() {
			logOutcome(logger, rv.Index(i).Interface())
		}
	case rv.Kind() == reflect.Pointer && !rv.IsNil():
		logger.Info("user logs the outcome", "pointer", v, "value", rv.Elem().Interface())
	default:
		logger.Info("user logs the outcome", "value", v)
	}
}

// auditRecord is an answer that holds every personal value, as an object
// that decodes into each model.
func auditRecord(img []byte) string {
	b64Image := base64.StdEncoding.EncodeToString(img)
	return `{"task_id":9,"idv_task_id":16,"kya_id":5,"progress":100,"state":0,"customer_reference":"` + auditRef + `",
"target":{"type":1,"name":"` + auditName + `","birthday":"` + auditBirthday + `","citizenship":"TWN"},
"expected_name":"` + auditName + `","full_name":"` + auditName + `","birthday":"` + auditBirthday + `",
"id_number":"` + auditIDNumber + `","expected_id_number":"` + auditIDNumber + `","expected_birthday":"` + auditBirthday + `",
"creator_name":"` + auditName + `","address":"` + auditName + `","sdk_token":"t","url":"https://idv.example/s",
"id_image":"` + b64Image + `","face_image":"` + b64Image + `","data":[{"name":"` + auditName + `"}]}`
}

// shaped wraps an object the way the endpoint of r answers: POST /task
// answers an array, GET /tasks a page.
func shaped(r *http.Request, obj string) string {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/task"):
		return "[" + obj + "]"
	case strings.HasSuffix(r.URL.Path, "/tasks"):
		return `{"data":[` + obj + `],"paging":{}}`
	}
	return obj
}

// The echoes of a careless server. The SDK masks a value it knows in the
// spellings it knows and withholds a whole text that still reveals one, so
// each echo stands apart: a withheld text would hide what the masking
// missed in another.
var echoes = map[string]func(reqBody []byte) string{
	// the request body as it came: names, birthdays, images' base64
	"the request": func(reqBody []byte) string { return string(reqBody) },
	// the personal values the request holds, escaped
	"escaped values": func(reqBody []byte) string {
		var b strings.Builder
		for _, v := range []string{auditName, auditBirthday, auditIDNumber} {
			if bytes.Contains(reqBody, []byte(v)) { // the SDK cannot know a value it did not send
				b.WriteString(" " + escapeAll(v) + " " + percentAll(v) + " " + base64.StdEncoding.EncodeToString([]byte(v)))
			}
		}
		return b.String()
	},
	// the key in several spellings
	"the key": func([]byte) string {
		return " token " + auditKey + " " + escapeAll(auditKey) + " " + percentAll(auditKey) + " " +
			base64.StdEncoding.EncodeToString([]byte(auditKey)) + " " + base64.StdEncoding.EncodeToString([]byte("GOFACT-API-TOKEN: "+auditKey))
	},
}

// echoOf is all the echoes in one text.
func echoOf(reqBody []byte) string {
	return echoes["the request"](reqBody) + echoes["escaped values"](reqBody) + echoes["the key"](reqBody)
}

// jsonString is s as the content of a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// An auditScenario is one way a call ends, played by the server.
type auditScenario struct {
	name  string
	serve func(w http.ResponseWriter, r *http.Request, reqBody []byte, img []byte)
	check func(t *testing.T, err error)
}

func apiErrorScenario(status int, echo string) auditScenario {
	return auditScenario{
		name: fmt.Sprintf("API error %d echoing %s", status, echo),
		serve: func(w http.ResponseWriter, r *http.Request, reqBody, _ []byte) {
			if echo == "the key" {
				w.Header().Set("X-Request-Id", "req-"+auditKey)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"code":4001,"message":`+jsonString("rejected: "+echoes[echo](reqBody))+`}`)
		},
		check: func(t *testing.T, err error) {
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, status, apiErr.StatusCode)
		},
	}
}

// hangUp drops the connection after writing prefix (nothing, or a part of
// an answer).
func hangUp(w http.ResponseWriter, prefix string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString(prefix)
	_ = buf.Flush()
	_ = conn.Close()
}

func decodeScenario(name string, body func(r *http.Request, reqBody, img []byte) string) auditScenario {
	return auditScenario{
		name: name,
		serve: func(w http.ResponseWriter, r *http.Request, reqBody, img []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body(r, reqBody, img))
		},
		check: func(t *testing.T, err error) { require.Error(t, err) },
	}
}

var auditScenarios = []auditScenario{
	{
		name: "success",
		serve: func(w http.ResponseWriter, r *http.Request, _, img []byte) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, shaped(r, auditRecord(img)))
		},
		check: func(t *testing.T, err error) { require.NoError(t, err) },
	},
	apiErrorScenario(http.StatusBadRequest, "the request"),
	apiErrorScenario(http.StatusBadRequest, "escaped values"),
	apiErrorScenario(http.StatusBadRequest, "the key"),
	apiErrorScenario(http.StatusServiceUnavailable, "the request"),
	apiErrorScenario(http.StatusServiceUnavailable, "the key"),
	{
		name:  "connection dropped",
		serve: func(w http.ResponseWriter, _ *http.Request, _, _ []byte) { hangUp(w, "") },
		check: func(t *testing.T, err error) { require.Error(t, err) },
	},
	{
		name: "connection dropped mid-body",
		serve: func(w http.ResponseWriter, r *http.Request, reqBody, img []byte) {
			hangUp(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900000\r\nX-Request-Id: "+auditKey+"\r\n\r\n"+
				shaped(r, auditRecord(img))[:200]+echoOf(reqBody))
		},
		check: func(t *testing.T, err error) { require.Error(t, err) },
	},
	decodeScenario("decode error: syntax", func(r *http.Request, reqBody, img []byte) string {
		return `{"task_id":9,"note":"` + auditName + " " + auditBirthday + " " + auditIDNumber + `",` + auditName + " " + echoOf(reqBody)
	}),
	decodeScenario("decode error: types", func(r *http.Request, reqBody, img []byte) string {
		return shaped(r, `{"code":7,"message":`+jsonString(echoOf(reqBody))+`,"task_id":"`+auditName+`","idv_task_id":"`+auditIDNumber+
			`","kya_id":"`+auditBirthday+`","timestamp":"`+auditBirthday+`","creation_time":"`+auditName+`","update_time":"`+auditIDNumber+
			`","progress":"`+auditName+`","state":"`+auditName+`","target":{"type":"`+auditName+`"}}`)
	}),
}

// An auditCall is one endpoint, called well and called with bad input.
// Each returns the request it sent (nil when the arguments are plain),
// the result and the error.
type auditCall struct {
	name    string
	call    func(ctx context.Context, c *Client, img []byte) (req, res any, err error)
	invalid func(ctx context.Context, c *Client, img []byte) (req, res any, err error)
}

// auditPoll keeps the Wait calls short when every poll fails.
var auditPoll = &WaitOptions{Interval: minPollInterval}

func auditIDVRequest(img []byte) *CreateIDVRequest {
	return &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, IDImage: ImageFromBytes(img),
		FaceImage: ImageFromBase64(base64.StdEncoding.EncodeToString(img)), ExpectedName: auditName,
		ExpectedBirthday: auditBirthday, ExpectedIDNumber: auditIDNumber, CustomerReference: auditRef}
}

func auditWebRequest() *InitWebIDVRequest {
	return &InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "TWN", CustomerReference: auditRef,
		ExpectedName: auditName, ExpectedBirthday: auditBirthday, ExpectedIDNumber: auditIDNumber}
}

func auditTasks(name, birthday, country string) []CreateTaskRequest {
	return []CreateTaskRequest{{SearchSettingID: 3, Target: KYCTarget(name, birthday, country), CustomerReference: auditRef}}
}

// collectAll drains the All iterator into its summaries and first error.
func collectAll(seq func(func(*TaskSummary, error) bool)) ([]*TaskSummary, error) {
	var got []*TaskSummary
	for s, err := range seq {
		if err != nil {
			return got, err
		}
		got = append(got, s)
	}
	return got, nil
}

var auditCalls = []auditCall{
	{"KYA.Create",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := &CreateKYARequest{Address: "0x" + strings.Repeat("ab", 20), Chain: ChainETH}
			res, err := c.KYA.Create(ctx, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			// An address is not personal: printing the request shows it,
			// but no error or log record may quote it.
			res, err := c.KYA.Create(ctx, &CreateKYARequest{Address: auditName + " " + auditIDNumber})
			return nil, res, err
		}},
	{"KYA.Get",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.KYA.Get(ctx, 5)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.KYA.Get(ctx, -5)
			return nil, res, err
		}},
	{"Tasks.Create",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := auditTasks(auditName, auditBirthday, "TWN")
			res, err := c.Tasks.Create(ctx, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := auditTasks(auditName, auditIDNumber, auditBirthday) // an ID number as birthday, a birthday as country
			res, err := c.Tasks.Create(ctx, req)
			return req, res, err
		}},
	{"Tasks.Summary",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Summary(ctx, 9)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Summary(ctx, 0)
			return nil, res, err
		}},
	{"Tasks.Get",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Get(ctx, 9)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Get(ctx, 0)
			return nil, res, err
		}},
	{"Tasks.SetAccepted",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := &SetAcceptedRequest{Comment: "reviewed", Accepted: true}
			res, err := c.Tasks.SetAccepted(ctx, 9, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := &SetAcceptedRequest{}
			res, err := c.Tasks.SetAccepted(ctx, -9, req)
			return req, res, err
		}},
	{"Tasks.Accept",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Accept(ctx, 9, "ok")
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Accept(ctx, 0, "")
			return nil, res, err
		}},
	{"Tasks.Reject",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Reject(ctx, 9, "no")
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Reject(ctx, 0, "")
			return nil, res, err
		}},
	{"Tasks.SetMetadata",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			md := []Metadata{{Key: "desk", Value: "7"}}
			return md, nil, c.Tasks.SetMetadata(ctx, 9, md)
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			// Metadata is the caller's own text (not masked, printed as is).
			return nil, nil, c.Tasks.SetMetadata(ctx, 0, []Metadata{{Key: "", Value: auditName}})
		}},
	{"Tasks.History",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			opts := &HistoryOptions{PageSize: 10, CustomerReference: auditRef}
			res, err := c.Tasks.History(ctx, opts)
			return opts, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			// A customer reference is the caller's id, printed as is.
			res, err := c.Tasks.History(ctx, &HistoryOptions{PageSize: -1, CustomerReference: auditName})
			return nil, res, err
		}},
	{"Tasks.All",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := collectAll(c.Tasks.All(ctx, &HistoryOptions{PageSize: 10}))
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := collectAll(c.Tasks.All(ctx, &HistoryOptions{PageNumber: -2, CustomerReference: auditName}))
			return nil, res, err
		}},
	{"Tasks.Wait",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Wait(ctx, 9, auditPoll)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.Tasks.Wait(ctx, 9, &WaitOptions{Interval: 2})
			return nil, res, err
		}},
	{"IDV.Create",
		func(ctx context.Context, c *Client, img []byte) (any, any, error) {
			req := auditIDVRequest(img)
			res, err := c.IDV.Create(ctx, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, img []byte) (any, any, error) {
			req := auditIDVRequest(img)
			req.Country, req.ExpectedBirthday = auditName, auditIDNumber
			req.IDImage = ImageFromBytes(img[:len(img)/2]) // a cut image
			res, err := c.IDV.Create(ctx, req)
			return req, res, err
		}},
	{"IDV.Get",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.IDV.Get(ctx, 16)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.IDV.Get(ctx, 0)
			return nil, res, err
		}},
	{"IDV.InitWeb",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := auditWebRequest()
			res, err := c.IDV.InitWeb(ctx, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := auditWebRequest()
			req.Country, req.ExpectedBirthday, req.TWIDApplyDate, req.TWIDApplyCode = auditName, auditIDNumber, auditBirthday, ptr(1)
			res, err := c.IDV.InitWeb(ctx, req)
			return req, res, err
		}},
	{"IDV.InitMobile",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := &InitMobileIDVRequest{Country: "TWN", CustomerReference: auditRef,
				ExpectedName: auditName, ExpectedBirthday: auditBirthday, ExpectedIDNumber: auditIDNumber}
			res, err := c.IDV.InitMobile(ctx, req)
			return req, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := &InitMobileIDVRequest{Country: auditName, ExpectedName: auditName, ExpectedBirthday: auditIDNumber}
			res, err := c.IDV.InitMobile(ctx, req)
			return req, res, err
		}},
	{"IDV.Wait",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.IDV.Wait(ctx, 16, auditPoll)
			return nil, res, err
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			res, err := c.IDV.Wait(ctx, 16, &WaitOptions{Interval: -time.Second})
			return nil, res, err
		}},
	{"Client.Do typed",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req, res := auditWebRequest(), &WebIDVSession{}
			return req, res, c.Do(ctx, http.MethodPost, "/idv/init", req, res)
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			return nil, nil, c.Do(ctx, http.MethodGet, "tasks?customer_reference="+auditName, nil, nil)
		}},
	{"Client.Do raw JSON",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := json.RawMessage(`{"workflow_id":300,"country":"TWN","customer_reference":"` + auditRef + `","applicant":{"name":"` +
				auditName + `","birthday":"` + auditBirthday + `","id_number":"` + auditIDNumber + `"}}`)
			res := &WebIDVSession{}
			return nil, res, c.Do(ctx, http.MethodPost, "/idv/init", req, res)
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			return nil, nil, c.Do(ctx, http.MethodPost, "/idv/init", json.RawMessage(`{}`), WebIDVSession{})
		}},
	{"Client.Do map",
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			req := map[string]any{"workflow_id": 300, "country": "TWN", "customer_reference": auditRef,
				"expected_name": auditName, "expected_birthday": auditBirthday, "expected_id_number": auditIDNumber}
			res := &WebIDVSession{}
			return nil, res, c.Do(ctx, http.MethodPost, "/idv/init", req, res)
		},
		func(ctx context.Context, c *Client, _ []byte) (any, any, error) {
			return nil, nil, c.Do(ctx, http.MethodPost, "/idv/init?x=%zz"+auditName, nil, nil)
		}},
}

// auditServer plays scenario for every request and counts the requests.
func auditServer(t *testing.T, scenario *atomic.Pointer[auditScenario], img []byte) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reqBody, _ := io.ReadAll(r.Body)
		scenario.Load().serve(w, r, reqBody, img)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRedactionAudit runs every endpoint through success, API errors,
// dropped connections, undecodable answers and bad input, and the callback
// handler through acceptance, refusals and failed confirmations, and finds
// neither the key nor a personal value in any log record, error or printed
// value.
func TestRedactionAudit(t *testing.T) {
	// Not parallel: auditCallbacks replaces slog.Default; its endpoint cases run in
	// parallel with each other.
	img := auditImage(t)
	needles := auditNeedles(img)
	for _, ep := range auditCalls {
		for i := range auditScenarios {
			sc := &auditScenarios[i]
			t.Run(ep.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				var scenario atomic.Pointer[auditScenario]
				scenario.Store(sc)
				srv, _ := auditServer(t, &scenario, img)
				logger, logs := debugJSONLogger()
				c, err := NewClient(auditKey, WithBaseURL(srv.URL), WithLogger(logger), WithMaxRetries(1),
					WithRetryBackoff(time.Millisecond, 2*time.Millisecond))
				require.NoError(t, err)
				c.sleep = deadlineAfterSleeps(2)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a net only: see deadlineAfterSleeps
				defer cancel()
				req, res, err := ep.call(ctx, c, img)
				sc.check(t, err)
				out := exposure(logger, logs, req, res, err)
				require.Contains(t, logs.String(), `"msg":"kryptogo request"`, "the client logged its attempts")
				assertNoSecrets(t, out, needles)
			})
		}
		t.Run(ep.name+"/validation error", func(t *testing.T) {
			t.Parallel()
			var scenario atomic.Pointer[auditScenario]
			scenario.Store(&auditScenarios[0])
			srv, hits := auditServer(t, &scenario, img)
			logger, logs := debugJSONLogger()
			c, err := NewClient(auditKey, WithBaseURL(srv.URL), WithLogger(logger))
			require.NoError(t, err)
			req, res, err := ep.invalid(t.Context(), c, img)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Zero(t, hits.Load(), "bad input sent no request")
			assertNoSecrets(t, exposure(logger, logs, req, res, err), needles)
		})
	}
	// The callback cases set slog.Default, so they run one at a time (the
	// parallel cases above start only once they are done, and use their
	// own loggers).
	var scenario atomic.Pointer[auditScenario]
	srv, _ := auditServer(t, &scenario, img)
	auditCallbacks(t, srv.URL, &scenario, img, needles)
}

// auditCallbackCase is one callback the handler receives.
type auditCallbackCase struct {
	name       string
	handler    func(confirm *Client, signer *CallbackSigner) *CallbackHandler
	request    func(t *testing.T, signer *CallbackSigner, body string) *http.Request
	body       func(img []byte) string
	serve      string // the API scenario a confirming client meets
	wantStatus int
}

func auditCallbackCases() []auditCallbackCase {
	signed := func(ref string) func(*testing.T, *CallbackSigner, string) *http.Request {
		return func(t *testing.T, signer *CallbackSigner, body string) *http.Request {
			req, err := NewSignedCallbackRequest(signer, "https://hooks.example/kg", ref, json.RawMessage(body))
			require.NoError(t, err)
			return req
		}
	}
	unsigned := func(_ *testing.T, _ *CallbackSigner, body string) *http.Request {
		return httptest.NewRequest(http.MethodPost, "https://hooks.example/kg", strings.NewReader(body))
	}
	record := func([]byte) string { // a task callback: a summary
		return `{"task_id":9,"progress":100,"customer_reference":"` + auditRef + `","update_time":1700000000,
"target":{"type":1,"name":"` + auditName + `","birthday":"` + auditBirthday + `","citizenship":"TWN"}}`
	}
	syntax := func([]byte) string {
		return `{"task_id":9,"target":{"name":"` + auditName + `","birthday":"` + auditBirthday + `"`
	}
	types := func([]byte) string {
		return `{"task_id":"` + auditName + `","progress":"` + auditBirthday + `","id_number":"` + auditIDNumber + `"}`
	}
	withSigner := func(_ *Client, s *CallbackSigner) *CallbackHandler { return &CallbackHandler{Signer: s} }
	confirming := func(c *Client, s *CallbackSigner) *CallbackHandler { return &CallbackHandler{Signer: s, Confirm: c} }
	failing := func(_ *Client, s *CallbackSigner) *CallbackHandler {
		return &CallbackHandler{Signer: s, OnTask: func(context.Context, *TaskSummary) error { return errors.New("downstream down") }}
	}
	return []auditCallbackCase{
		{"accept", withSigner, signed(auditRef), record, "", http.StatusNoContent},
		{"accept unverified", func(*Client, *CallbackSigner) *CallbackHandler { return &CallbackHandler{AllowUnverified: true} },
			unsigned, record, "", http.StatusNoContent},
		{"accept confirmed", confirming, signed(auditRef), record, "success", http.StatusNoContent},
		{"refuse: no signature", withSigner, unsigned, record, "", http.StatusUnauthorized},
		{"refuse: another customer", withSigner, signed("c-other"), record, "", http.StatusForbidden},
		{"refuse: syntax", withSigner, signed(auditRef), syntax, "", http.StatusBadRequest},
		{"refuse: types", withSigner, signed(auditRef), types, "", http.StatusBadRequest},
		{"refuse: no verifier", func(*Client, *CallbackSigner) *CallbackHandler { return &CallbackHandler{} },
			unsigned, record, "", http.StatusInternalServerError},
		{"refuse: function fails", failing, signed(auditRef), record, "", http.StatusInternalServerError},
		{"confirm fails: API error 404 echoing the key", confirming, signed(auditRef), record, "API error 404 echoing the key", http.StatusUnprocessableEntity},
		{"confirm fails: API error 503 echoing the key", confirming, signed(auditRef), record, "API error 503 echoing the key", http.StatusServiceUnavailable},
		{"confirm fails: connection dropped", confirming, signed(auditRef), record, "connection dropped", http.StatusServiceUnavailable},
		{"confirm fails: decode error", confirming, signed(auditRef), record, "decode error: syntax", 0},
		{"confirm fails: another customer", confirming, signed("c-other"), record, "success", http.StatusForbidden},
	}
}

// auditCallbacks runs the callback handler, with slog.Default a JSON
// handler at debug level, through acceptances, refusals and confirmations
// that fail.
func auditCallbacks(t *testing.T, srvURL string, scenario *atomic.Pointer[auditScenario], img []byte, needles map[string]string) {
	logger, logs := debugJSONLogger()
	previous := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(previous) })
	signer, err := NewCallbackSigner([]byte(strings.Repeat("s", 32)))
	require.NoError(t, err)
	byName := map[string]*auditScenario{"": &auditScenarios[0]}
	for i := range auditScenarios {
		byName[auditScenarios[i].name] = &auditScenarios[i]
	}
	byName["API error 404 echoing the key"] = ptr(apiErrorScenario(http.StatusNotFound, "the key"))
	for _, tc := range auditCallbackCases() {
		t.Run("callback/"+tc.name, func(t *testing.T) {
			require.Contains(t, byName, tc.serve)
			scenario.Store(byName[tc.serve])
			confirm, err := NewClient(auditKey, WithBaseURL(srvURL), WithLogger(logger), WithMaxRetries(0))
			require.NoError(t, err)
			h := tc.handler(confirm, signer)
			var delivered []any
			if h.OnTask == nil {
				h.OnTask = func(_ context.Context, task *TaskSummary) error { delivered = append(delivered, task); return nil }
			}
			h.OnIDV = func(_ context.Context, task *IDVTask) error { delivered = append(delivered, task); return nil }
			before := len(logs.String())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.request(t, signer, tc.body(img)))
			if tc.wantStatus != 0 {
				assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			} else {
				assert.GreaterOrEqual(t, rec.Code, 400, rec.Body.String())
			}
			require.Greater(t, len(logs.String()), before, "the handler logged the callback")
			out := exposure(logger, logs, delivered...) + rec.Body.String() + fmt.Sprint(rec.Header())
			assertNoSecrets(t, out, needles)
		})
	}
}
