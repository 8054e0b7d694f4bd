package kryptogotest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// The tests of this file hold the fake to the API reference with plain
// net/http requests: no SDK validates, fills in or re-reads what is sent or
// answered, so nothing hides a difference between the fake and the API.

// rawCall sends body to path with the fake's key and returns the status
// and the answer's body.
func rawCall(t *testing.T, srv *Server, method, path, body string) (int, []byte) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	// A generous bound: the 15 MB image takes seconds under -race on a busy
	// machine.
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, srv.URL+path, reader)
	require.NoError(t, err)
	req.Header.Set(kryptogo.DefaultAPIKeyHeader, srv.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, answer
}

// rawOK sends the request, requires a 200 and returns the answer's fields.
func rawOK(t *testing.T, srv *Server, method, path, body string) map[string]json.RawMessage {
	t.Helper()
	status, answer := rawCall(t, srv, method, path, body)
	require.Equal(t, http.StatusOK, status, "%s %s %s: %s", method, path, body, answer)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(answer, &fields), "%s", answer)
	return fields
}

// rawRefused sends the request and requires a 400 whose message names field.
func rawRefused(t *testing.T, srv *Server, method, path, body, field string) {
	t.Helper()
	status, answer := rawCall(t, srv, method, path, body)
	require.Equal(t, http.StatusBadRequest, status, "%s %s %.300s: %s", method, path, body, answer)
	var e errorBody
	require.NoError(t, json.Unmarshal(answer, &e))
	assert.Equal(t, http.StatusBadRequest, e.Code)
	assert.Contains(t, e.Message, field, "the message names the field")
}

// rawTask creates one task from the JSON object of its fields and returns its id.
func rawTask(t *testing.T, srv *Server, fields string) string {
	t.Helper()
	status, answer := rawCall(t, srv, http.MethodPost, "/task", "["+fields+"]")
	require.Equal(t, http.StatusOK, status, "%s", answer)
	var receipts []struct {
		TaskID json.Number `json:"task_id"`
	}
	require.NoError(t, json.Unmarshal(answer, &receipts))
	require.Len(t, receipts, 1)
	return receipts[0].TaskID.String()
}

// field decodes one field of an answer.
func field[T any](t *testing.T, fields map[string]json.RawMessage, name string) T {
	t.Helper()
	raw, ok := fields[name]
	require.True(t, ok, "the answer has %s: %v", name, fields)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), "%s: %s", name, raw)
	return v
}

const kycTask = `"search_setting_id":2,"search_source":[],"target":{"type":1,"name":"Jane Roe","birthday":"1985-01-31","citizenship":"TWN"}`

func encodedImage(t *testing.T, format string, w, h int) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	switch format {
	case "png":
		require.NoError(t, png.Encode(&buf, img))
	case "jpeg":
		require.NoError(t, jpeg.Encode(&buf, img, nil))
	case "gif":
		require.NoError(t, gif.Encode(&buf, img, nil))
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// idvBody is a valid POST /idv body for a passport with images of the
// format, with extra fields (",..." or "") appended.
func idvBody(t *testing.T, extra string) string {
	img := encodedImage(t, "png", 400, 320)
	return `{"country":"TWN","id_type":"PASSPORT","id_image":"` + img + `","id_mime_type":"image/png",` +
		`"face_image":"` + img + `","face_mime_type":"image/png"` + extra + `}`
}

func TestRawFromIDVIDCopiesTheIDVTask(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	idv := rawOK(t, srv, http.MethodPost, "/idv/account", `{"workflow_id":3,"country":"JPN","expected_birthday":"1970-05-06",`+
		`"customer_reference":"idv-customer","callback_url":"https://example.com/idv-callback"}`)
	idvID := string(idv["idv_task_id"])

	id := rawTask(t, srv, `{"search_setting_id":2,"search_source":[],"from_idv_id":`+idvID+`,`+
		`"target":{"type":1,"name":"Jane Roe","birthday":"1985-01-31","citizenship":"TWN"},`+
		`"customer_reference":"task-customer","callback_url":"https://example.com/task-callback"}`)
	detail := rawOK(t, srv, http.MethodGet, "/task/"+id, "")
	target := field[map[string]any](t, detail, "target")
	assert.Equal(t, "1970-05-06", target["birthday"], "target.birthday is the IDV task's")
	assert.Equal(t, "JPN", target["citizenship"], "target.citizenship is the IDV task's country")
	assert.Equal(t, "Jane Roe", target["name"], "the name is the request's")
	assert.Equal(t, "idv-customer", field[string](t, detail, "customer_reference"))
	assert.Equal(t, "https://example.com/idv-callback", field[string](t, detail, "callback_url"))
	assert.Equal(t, idvID, string(detail["from_idv_id"]))
	summary := rawOK(t, srv, http.MethodGet, "/task/"+id+"/summary", "")
	assert.Equal(t, "idv-customer", field[string](t, summary, "customer_reference"))

	// A finished IDV task gives what was read from the document.
	require.NoError(t, srv.CompleteIDV(kryptogo.ID(mustAtoi(t, idvID)), IDVOutcome{State: kryptogo.IDVAccept}))
	id = rawTask(t, srv, `{"search_setting_id":2,"search_source":[],"from_idv_id":`+idvID+`,"target":{"type":1,"name":"Jane Roe"}}`)
	target = field[map[string]any](t, rawOK(t, srv, http.MethodGet, "/task/"+id, ""), "target")
	assert.Equal(t, "1970-05-06", target["birthday"])

	rawRefused(t, srv, http.MethodPost, "/task", `[{"search_setting_id":2,"search_source":[],"from_idv_id":999,"target":{"type":1,"name":"Jane Roe"}}]`,
		"[0].from_idv_id")
	rawRefused(t, srv, http.MethodPost, "/task", `[{`+kycTask+`},{"search_setting_id":2,"search_source":[],"from_idv_id":999,"target":{"type":1,"name":"A"}}]`,
		"[1].from_idv_id")
	assert.Len(t, srv.Tasks(), 2, "a refused batch creates none of its tasks")
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func TestRawIDVImagesFollowTheReference(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	rawOK(t, srv, http.MethodPost, "/idv", idvBody(t, ""))
	jpg := encodedImage(t, "jpeg", 301, 20)
	rawOK(t, srv, http.MethodPost, "/idv", `{"country":"TWN","id_type":"PASSPORT","id_image":"`+jpg+`","id_and_face_image":"`+jpg+`"}`)

	tooBig := base64.StdEncoding.EncodeToString(append(mustDecode(t, encodedImage(t, "png", 400, 320)), make([]byte, 15<<20)...))
	for _, tc := range []struct {
		name, image, mime string
		refused           string // the field the answer names
	}{
		{"not base64", "%%%not base64%%%", "image/png", "id_image"},
		{"1x1 png", encodedImage(t, "png", 1, 1), "image/png", "id_image"},
		{"longest side 300 px", encodedImage(t, "png", 300, 300), "image/png", "id_image"},
		{"8000 px side", encodedImage(t, "png", 8000, 400), "image/png", "id_image"},
		{"gif", encodedImage(t, "gif", 400, 320), "image/png", "id_image"},
		{"gif declared as gif", encodedImage(t, "gif", 400, 320), "image/gif", "id_image, id_mime_type"},
		{"png declared as jpeg", encodedImage(t, "png", 400, 320), "image/jpeg", "id_mime_type"},
		{"png with the default type, jpeg", encodedImage(t, "png", 400, 320), "", "id_mime_type"},
		{"over 15 MB", tooBig, "image/png", "id_image"},
		{"not an image", base64.StdEncoding.EncodeToString([]byte("hello, world")), "image/png", "id_image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mime := ""
			if tc.mime != "" {
				mime = `,"id_mime_type":"` + tc.mime + `"`
			}
			face := encodedImage(t, "png", 400, 320)
			rawRefused(t, srv, http.MethodPost, "/idv", `{"country":"TWN","id_type":"PASSPORT","id_image":"`+tc.image+`"`+mime+
				`,"face_image":"`+face+`","face_mime_type":"image/png"}`, "invalid request: "+tc.refused)
		})
	}
	rawRefused(t, srv, http.MethodPost, "/idv", idvBody(t, `,"id_and_face_image":"%%%","id_and_face_mime_type":"image/png"`), "id_and_face_image")
	assert.Len(t, srv.IDVTasks(), 2, "no refused request created a task")
}

func mustDecode(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestRawIDVSessionLimits(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	const web = `"country":"TWN","id_type":"ID_CARD","workflow_id":200`
	const mobile = `"country":"TWN","workflow_id":3`
	tw := func(code, date, site string) string {
		return `,"tw_id_apply_code":` + code + `,"tw_id_apply_date":"` + date + `","tw_id_issue_site_id":"` + site + `"`
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	url := func(n int) string { return "https://example.com/" + long(n-len("https://example.com/")) }

	for _, tc := range []struct {
		name, path, body string
		refused          string // the field named, "" when accepted
	}{
		{"web: the reference's sample", "/idv/init", `{` + web + `,"customer_reference":"c","locale":"zh-HK"` + tw("2", "1070102", "10011") + `}`, ""},
		{"web: customer_reference of 100", "/idv/init", `{` + web + `,"customer_reference":"` + long(100) + `"}`, ""},
		{"web: customer_reference of 101", "/idv/init", `{` + web + `,"customer_reference":"` + long(101) + `"}`, "customer_reference"},
		{"web: customer_reference of 100 non-ASCII characters", "/idv/init", `{` + web + `,"customer_reference":"` + strings.Repeat("王", 100) + `"}`, ""},
		{"web: error_url of 255", "/idv/init", `{` + web + `,"customer_reference":"c","error_url":"` + url(255) + `"}`, ""},
		{"web: error_url of 256", "/idv/init", `{` + web + `,"customer_reference":"c","error_url":"` + url(256) + `"}`, "error_url"},
		{"web: success_url of 2047", "/idv/init", `{` + web + `,"customer_reference":"c","success_url":"` + url(2047) + `"}`, ""},
		{"web: success_url of 2048", "/idv/init", `{` + web + `,"customer_reference":"c","success_url":"` + url(2048) + `"}`, "success_url"},
		{"web: success_url not a URL", "/idv/init", `{` + web + `,"customer_reference":"c","success_url":"done"}`, "success_url"},
		{"web: unknown locale", "/idv/init", `{` + web + `,"customer_reference":"c","locale":"xx"}`, "locale"},
		{"web: locale in another case", "/idv/init", `{` + web + `,"customer_reference":"c","locale":"EN"}`, "locale"},
		{"web: apply code 4", "/idv/init", `{` + web + `,"customer_reference":"c"` + tw("4", "1070102", "10011") + `}`, "tw_id_apply_code"},
		{"web: apply date of 6 digits", "/idv/init", `{` + web + `,"customer_reference":"c"` + tw("1", "107010", "10011") + `}`, "tw_id_apply_date"},
		{"web: apply date not on the calendar", "/idv/init", `{` + web + `,"customer_reference":"c"` + tw("1", "1070230", "10011") + `}`, "tw_id_apply_date"},
		{"web: unknown issue site", "/idv/init", `{` + web + `,"customer_reference":"c"` + tw("1", "1070102", "99999") + `}`, "tw_id_issue_site_id"},
		{"web: add-on on a passport", "/idv/init", `{"country":"TWN","id_type":"PASSPORT","workflow_id":200,"customer_reference":"c"` + tw("1", "1070102", "10011") + `}`, "tw_id_apply_code"},
		{"web: add-on outside Taiwan", "/idv/init", `{"country":"JPN","id_type":"ID_CARD","workflow_id":200,"customer_reference":"c"` + tw("1", "1070102", "10011") + `}`, "tw_id_apply_code"},
		{"web: add-on incomplete", "/idv/init", `{` + web + `,"customer_reference":"c","tw_id_apply_date":"1070102"}`, "tw_id_apply_code"},
		{"mobile: the reference's sample", "/idv/account", `{` + mobile + `,"customer_reference":"000000123"` + tw("2", "1070102", "10011") + `}`, ""},
		{"mobile: customer_reference of 101", "/idv/account", `{` + mobile + `,"customer_reference":"` + long(101) + `"}`, "customer_reference"},
		{"mobile: apply code -1", "/idv/account", `{` + mobile + tw("-1", "1070102", "10011") + `}`, "tw_id_apply_code"},
		{"mobile: apply code as a string", "/idv/account", `{` + mobile + `,"tw_id_apply_code":"1","tw_id_apply_date":"1070102","tw_id_issue_site_id":"10011"}`, "tw_id_apply_code"},
		{"mobile: unknown issue site", "/idv/account", `{` + mobile + tw("1", "1070102", "1001") + `}`, "tw_id_issue_site_id"},
		{"mobile: add-on outside Taiwan", "/idv/account", `{"country":"JPN","workflow_id":3` + tw("1", "1070102", "10011") + `}`, "tw_id_apply_code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.refused == "" {
				rawOK(t, srv, http.MethodPost, tc.path, tc.body)
				return
			}
			rawRefused(t, srv, http.MethodPost, tc.path, tc.body, tc.refused)
		})
	}
}

func TestRawCountryIsAlpha3(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	img := encodedImage(t, "png", 400, 320)
	bodies := map[string]func(country string) string{
		"/idv": func(c string) string {
			return `{"country":"` + c + `","id_type":"PASSPORT","id_image":"` + img + `","id_mime_type":"image/png","face_image":"` + img + `","face_mime_type":"image/png"}`
		},
		"/idv/init": func(c string) string {
			return `{"country":"` + c + `","id_type":"PASSPORT","workflow_id":100,"customer_reference":"c"}`
		},
		"/idv/account": func(c string) string { return `{"country":"` + c + `","workflow_id":3}` },
	}
	for path, body := range bodies {
		t.Run(path, func(t *testing.T) {
			rawOK(t, srv, http.MethodPost, path, body("TWN"))
			for _, bad := range []string{"TW", "twn", "158", "XYZ", "TWN "} {
				rawRefused(t, srv, http.MethodPost, path, body(bad), "country")
			}
		})
	}
	t.Run("target.citizenship of POST /task", func(t *testing.T) {
		task := func(citizenship string) string {
			return `[{"search_setting_id":2,"search_source":[],"target":{"type":1,"name":"A","citizenship":"` + citizenship + `"}}]`
		}
		for _, ok := range []string{"TWN", "158"} { // the notes: alpha-3 or numeric
			rawOK2(t, srv, http.MethodPost, "/task", task(ok))
		}
		for _, bad := range []string{"TW", "twn", "999"} {
			rawRefused(t, srv, http.MethodPost, "/task", task(bad), "[0].target.citizenship")
		}
		rawRefused(t, srv, http.MethodPost, "/task", `[{"search_setting_id":2,"search_source":[],"target":{"type":1,"name":"A","birthday":"1985-02-30"}}]`,
			"[0].target.birthday")
	})
}

// rawOK2 requires a 200 of a request whose answer is not an object.
func rawOK2(t *testing.T, srv *Server, method, path, body string) {
	t.Helper()
	status, answer := rawCall(t, srv, method, path, body)
	require.Equal(t, http.StatusOK, status, "%s %s %s: %s", method, path, body, answer)
}

func TestRawCallbackURLIsAURI(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	for _, bad := range []string{"not a url", "/relative/path", "ftp://example.com/cb", "https://"} {
		t.Run(bad, func(t *testing.T) {
			rawRefused(t, srv, http.MethodPost, "/task", `[{`+kycTask+`,"callback_url":"`+bad+`"}]`, "[0].callback_url")
			rawRefused(t, srv, http.MethodPost, "/idv", idvBody(t, `,"callback_url":"`+bad+`"`), "callback_url")
			rawRefused(t, srv, http.MethodPost, "/idv", idvBody(t, `,"auto_create_dd_task":true,"dd_task_search_setting_id":2,"dd_task_callback_url":"`+bad+`"`),
				"dd_task_callback_url")
			rawRefused(t, srv, http.MethodPost, "/idv/init", `{"country":"TWN","id_type":"PASSPORT","workflow_id":100,"customer_reference":"c","callback_url":"`+bad+`"}`,
				"callback_url")
			rawRefused(t, srv, http.MethodPost, "/idv/account", `{"country":"TWN","workflow_id":3,"callback_url":"`+bad+`"}`, "callback_url")
		})
	}
	rawTask(t, srv, "{"+kycTask+`,"callback_url":"https://example.com/cb?customer=1"}`)
	rawOK(t, srv, http.MethodPost, "/idv", idvBody(t, `,"callback_url":"http://127.0.0.1:9/cb"`))
}

func TestRawSearchSettingIDIsAnInteger(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	const target = `"search_source":[],"target":{"type":2,"name":"Acme"}`
	rawTask(t, srv, `{"search_setting_id":2,`+target+`}`)
	for _, bad := range []string{`"2"`, `2.0`, `2e0`, `-2`, `0`, `null`, `true`} {
		t.Run(bad, func(t *testing.T) {
			rawRefused(t, srv, http.MethodPost, "/task", `[{"search_setting_id":`+bad+`,`+target+`}]`, "[0].search_setting_id")
		})
	}
	for _, bad := range []string{`"2"`, `2.0`} {
		rawRefused(t, srv, http.MethodPost, "/idv", idvBody(t, `,"auto_create_dd_task":true,"dd_task_search_setting_id":`+bad), "dd_task_search_setting_id")
		rawRefused(t, srv, http.MethodPost, "/task", `[{"search_setting_id":2,"from_idv_id":`+bad+`,`+target+`}]`, "[0].from_idv_id")
	}
}

func TestRawKYAAddressFitsTheChain(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	const btc = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	for _, ok := range []string{
		`{"address":"` + ethAddr + `","chain":"eth"}`,
		`{"address":"` + ethAddr + `","chain":"ETH"}`,
		`{"address":"` + btc + `","chain":"btc"}`,
		`{"address":"1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}`,
	} {
		rawOK(t, srv, http.MethodPost, "/kya", ok)
	}
	for _, bad := range []string{
		`{"address":"` + ethAddr + `","chain":"btc"}`,
		`{"address":"hello","chain":"eth"}`,
		`{"address":"` + btc + `","chain":"eth"}`,
		`{"address":"0x72a5843cc08275C8171E582972Aa4fDa8C397B2","chain":"eth"}`,
		`{"address":" ` + ethAddr + `","chain":"eth"}`,
	} {
		t.Run(bad, func(t *testing.T) { rawRefused(t, srv, http.MethodPost, "/kya", bad, "address") })
	}
}

// reportKeys are the fields of a summary's report, as API-NOTES gives them.
var reportKeys = []string{"sanction_matched", "potential_risk", "url", "accepted", "comment"}

func TestRawReportIsAnObject(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	cb := newReceiver(t)
	id := rawTask(t, srv, "{"+kycTask+`,"callback_url":"`+cb.URL+`"}`)

	summary := rawOK(t, srv, http.MethodGet, "/task/"+id+"/summary", "")
	report := field[map[string]json.RawMessage](t, summary, "report")
	require.NotNil(t, report, "report is an object before the task completes, never null")
	for _, k := range reportKeys {
		assert.Contains(t, report, k)
	}
	assert.Equal(t, "null", string(report["accepted"]), "undecided")
	assert.Equal(t, "0", string(report["potential_risk"]))
	assert.Equal(t, "false", string(report["sanction_matched"]))
	assert.Equal(t, `"https://app.kryptogo.com/compliance/audit/`+id+`"`, string(report["url"]))
	history := rawOK(t, srv, http.MethodGet, "/tasks?page_size=10&page_number=1", "")
	assert.NotContains(t, string(history["data"]), `"report":null`)

	// A decision before completion calls back: its report is an object too.
	rawOK(t, srv, http.MethodPost, "/task/"+id+"/accepted", `{"comment":"early","accepted":true}`)
	require.NoError(t, srv.WaitCallbacks(ctx(t)))
	require.Len(t, cb.received(), 1)
	var callback map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(cb.received()[0], &callback))
	report = field[map[string]json.RawMessage](t, callback, "report")
	require.NotNil(t, report, "the callback's report is an object")
	assert.Equal(t, "true", string(report["accepted"]))
	assert.Equal(t, `"early"`, string(report["comment"]))
}

func TestRawTaskDetailHasResult(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t, WithManualCompletion())
	id := rawTask(t, srv, "{"+kycTask+`}`)
	detail := rawOK(t, srv, http.MethodGet, "/task/"+id, "")
	require.Contains(t, detail, "result", "result is present before the task completes")
	assert.True(t, strings.HasPrefix(string(detail["result"]), "{"), "an object: %s", detail["result"])

	require.NoError(t, srv.CompleteTask(kryptogo.ID(mustAtoi(t, id)), TaskOutcome{PotentialRisk: 10}))
	detail = rawOK(t, srv, http.MethodGet, "/task/"+id, "")
	assert.True(t, strings.HasPrefix(string(detail["result"]), "{"), "and after: %s", detail["result"])
}

// invented requires that raw is an object marked as the fake's invention.
func invented(t *testing.T, what string, raw json.RawMessage) {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &fields), "%s: %s", what, raw)
	assert.Equal(t, "true", string(fields[InventedKey]), "%s carries the marker: %s", what, raw)
}

func TestRawInventedShapesAreMarked(t *testing.T) {
	t.Parallel()
	const btc = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	srv := NewTestServer(t, WithManualCompletion(), WithSanctionedAddresses(btc, ethAddr))
	for _, address := range []string{ethAddr, btc} {
		kya := rawOK(t, srv, http.MethodPost, "/kya", `{"address":"`+address+`"}`)
		sdn := field[[]json.RawMessage](t, kya, "sdnlist")
		require.NotEmpty(t, sdn)
		for _, e := range sdn {
			invented(t, "an sdnlist entry", e)
		}
		txs := field[[]map[string]any](t, kya, "txlist")
		require.NotEmpty(t, txs, "both addresses have transactions in the fake")
		for _, tx := range txs {
			assert.Equal(t, true, tx[InventedKey], "a txlist entry carries the marker")
			hash, _ := tx["hash"].(string)
			if address == btc {
				assert.Regexp(t, `^[0-9a-f]{64}$`, hash, "a bitcoin transaction hash has no 0x")
			} else {
				assert.Regexp(t, `^0x[0-9a-f]{64}$`, hash)
			}
		}
		assert.JSONEq(t, `{}`, string(kya["data"]), "data is an empty object: nothing invented")
	}

	id := rawTask(t, srv, "{"+kycTask+`}`)
	rawOK(t, srv, http.MethodPost, "/task/"+id+"/accepted", `{"comment":"ok","accepted":true}`)
	require.NoError(t, srv.CompleteTask(kryptogo.ID(mustAtoi(t, id)), TaskOutcome{}))
	detail := rawOK(t, srv, http.MethodGet, "/task/"+id, "")
	invented(t, "result", detail["result"])
	logs := field[[]json.RawMessage](t, detail, "comment_logs")
	require.Len(t, logs, 1)
	invented(t, "a comment_logs entry", logs[0])
	history := rawOK(t, srv, http.MethodGet, "/tasks?page_size=10&page_number=1", "")
	invented(t, "paging", history["paging"])
}

func TestRawInitTimestampIsRFC3339ByDefault(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	srv := NewTestServer(t, WithClock(func() time.Time { return now }))
	const body = `{"country":"TWN","id_type":"PASSPORT","workflow_id":100,"customer_reference":"c"}`
	session := rawOK(t, srv, http.MethodPost, "/idv/init", body)
	assert.Equal(t, `"2026-11-25T08:00:00Z"`, string(session["timestamp"]), "API-NOTES: an RFC 3339 string")
	mobile := rawOK(t, srv, http.MethodPost, "/idv/account", `{"country":"TWN","workflow_id":3}`)
	assert.Equal(t, strconv.FormatInt(now.Unix(), 10), string(mobile["timestamp"]), "other endpoints: unix seconds")

	srv.SetRFC3339InitTimestamp(false)
	session = rawOK(t, srv, http.MethodPost, "/idv/init", body)
	assert.Equal(t, strconv.FormatInt(now.Unix(), 10), string(session["timestamp"]), "the switch still gives unix seconds")
	unix := NewTestServer(t, WithClock(func() time.Time { return now }), WithUnixInitTimestamp())
	session = rawOK(t, unix, http.MethodPost, "/idv/init", body)
	assert.Equal(t, strconv.FormatInt(now.Unix(), 10), string(session["timestamp"]), "and so does the option")
}

func TestRawDDTasksAuditStatusFollowsTheTask(t *testing.T) {
	t.Parallel()
	srv := NewTestServer(t)
	idv := rawOK(t, srv, http.MethodPost, "/idv", idvBody(t, `,"auto_create_dd_task":true,"dd_task_search_setting_id":2`))
	idvID := string(idv["idv_task_id"])
	ddTasks := func() []map[string]json.RawMessage {
		return field[[]map[string]json.RawMessage](t, rawOK(t, srv, http.MethodGet, "/idv/"+idvID, ""), "dd_tasks")
	}
	tasks := ddTasks()
	require.Len(t, tasks, 1)
	auto := string(tasks[0]["id"])
	assert.Equal(t, "0", string(tasks[0]["audit_status"]), "undecided")

	rawOK(t, srv, http.MethodPost, "/task/"+auto+"/accepted", `{"comment":"ok","accepted":true}`)
	tasks = ddTasks()
	assert.Equal(t, "1", string(tasks[0]["audit_status"]), "accepted, as the DD task")

	linked := rawTask(t, srv, `{"search_setting_id":2,"search_source":[],"from_idv_id":`+idvID+`,"target":{"type":1,"name":"Jane Roe"}}`)
	rawOK(t, srv, http.MethodPost, "/task/"+linked+"/accepted", `{"comment":"no","accepted":false}`)
	tasks = ddTasks()
	require.Len(t, tasks, 2, "a task created from the IDV task is one of its DD tasks")
	assert.Equal(t, linked, string(tasks[1]["id"]))
	assert.Equal(t, "2", string(tasks[1]["audit_status"]), "rejected, as the DD task")
}
