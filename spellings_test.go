package kryptogo

// Issue 15, row 6: a 400 that echoes the request's personal values in
// another spelling than the one sent (another letter case, decomposed,
// the birthday in another date format, the key in hex or wrapped base64,
// an image's base64 wrapped or URL-escaped) must be masked by meaning.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyabc/kryptogo-go/internal/unorm"
)

// The personal values of the spelling test: a name whose composed (NFC)
// and decomposed (NFD) forms differ, a birthday, an ID number.
const (
	spellName     = "Renée Zoë Lindqvist"
	spellBirthday = "1985-01-31"
	spellIDNumber = "A123456789"
)

// spellImage is 3 KiB of noise: 4,096 characters of base64.
func spellImage() []byte {
	rng := rand.New(rand.NewPCG(6, 15))
	img := make([]byte, 3<<10)
	for i := range img {
		img[i] = byte(rng.UintN(256))
	}
	return img
}

// wrap cuts s into lines of n characters joined by eol.
func wrap(s string, n int, eol string) string {
	var lines []string
	for len(s) > n {
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return strings.Join(append(lines, s), eol)
}

// urlEscapeBase64 escapes the base64 characters a URL query escapes.
func urlEscapeBase64(s string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s)
}

// spelling is one way a server echoes a value.
type spelling struct {
	name string
	echo string
	// hidden is the text that must not survive (echo when empty); for a
	// base64 or hex spelling, no run of 16 of its characters may.
	hidden  string
	encoded bool
}

func echoSpellings() []spelling {
	keyHeader := "GOFACT-API-TOKEN: " + testKey
	keyB64 := base64.StdEncoding.EncodeToString([]byte(keyHeader))
	// the characters that encode the key's bytes alone (the header's name
	// is no secret)
	keyRun := keyB64[(len(keyHeader)-len(testKey)+2)/3*4 : len(keyHeader)/3*4]
	img := base64.StdEncoding.EncodeToString(spellImage())
	return []spelling{
		{name: "name as sent", echo: spellName},
		{name: "name upper case", echo: strings.ToUpper(spellName)},
		{name: "name lower case", echo: strings.ToLower(spellName)},
		{name: "name decomposed (NFD)", echo: unorm.NFD(spellName)},
		{name: "name decomposed, upper case", echo: strings.ToUpper(unorm.NFD(spellName))},
		{name: "name URL-escaped, lower-case hex", echo: strings.ToLower(url.QueryEscape(spellName)), hidden: url.QueryEscape(spellName)},
		{name: "birthday as sent", echo: spellBirthday},
		{name: "birthday 1985/01/31", echo: "1985/01/31"},
		{name: "birthday 19850131", echo: "19850131"},
		{name: "birthday 31/01/1985", echo: "31/01/1985"},
		{name: "birthday 1985.01.31", echo: "1985.01.31"},
		{name: "birthday 01/31/1985", echo: "01/31/1985"},
		{name: "birthday 31.01.1985", echo: "31.01.1985"},
		{name: "birthday 31 Jan 1985", echo: "31 Jan 1985"},
		{name: "birthday January 31, 1985", echo: "January 31, 1985"},
		{name: "ID number lower case", echo: strings.ToLower(spellIDNumber)},
		{name: "key as sent", echo: testKey},
		{name: "key upper case", echo: strings.ToUpper(testKey)},
		{name: "key lower case", echo: strings.ToLower(testKey)},
		{name: "key in hex", echo: hex.EncodeToString([]byte(testKey)), encoded: true},
		{name: "key in upper-case hex", echo: strings.ToUpper(hex.EncodeToString([]byte(testKey))), encoded: true},
		{name: "key in base64", echo: base64.StdEncoding.EncodeToString([]byte(testKey)), encoded: true},
		{name: "key header in MIME base64 (76, CRLF)", echo: wrap(keyB64, 76, "\r\n"), hidden: keyRun, encoded: true},
		{name: "key header in PEM base64 (64, LF)", echo: wrap(keyB64, 64, "\n"), hidden: keyRun, encoded: true},
		{name: "key header in base64 wrapped at 16", echo: wrap(keyB64, 16, "\r\n"), hidden: keyRun, encoded: true},
		{name: "key header in URL-escaped base64", echo: urlEscapeBase64(keyB64), hidden: keyRun, encoded: true},
		{name: "image in base64", echo: img, encoded: true},
		{name: "image in MIME base64 (76, CRLF)", echo: wrap(img, 76, "\r\n"), hidden: img, encoded: true},
		{name: "image in PEM base64 (64, LF)", echo: wrap(img, 64, "\n"), hidden: img, encoded: true},
		{name: "image in base64 spaced every 4", echo: wrap(img, 4, " "), hidden: img, encoded: true},
		{name: "image in URL-escaped base64", echo: urlEscapeBase64(img), hidden: img, encoded: true},
	}
}

// lookalikes are ordinary texts that resemble the secrets without being
// them: the masking must leave them whole.
var lookalikes = []string{
	"Renée Zoë Lindgren", "Lindqvist", "another birthday 1985-01-13, 1985-13-01 and 31/01/1986",
	"A123456780", "sk-test-7f3a9c1e-public-KEY",
	"0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 0x2f3c1e4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
	"0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060\n0x2f3c1e4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
	"request 3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b failed; retry later",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
	"The target was screened against every list the account subscribes to and no match was found. " +
		"Review the sources in the report, then accept or reject the task from the console or through the API. " +
		"Support can help with questions about a specific result or about the search settings in use today.",
	"The target was screened against every list the account subscribes to and no match was found.\r\n" +
		"Review the sources in the report, then accept or reject the task from the console or through the API.\r\n" +
		"Support can help with questions about a specific result or about the search settings in use today.",
}

// spellingOutputs makes one call whose 400 answer echoes echo in its body
// and in a header, and returns every text the caller can see: Error(),
// %+v, APIError.Body and Message, ResponseInfo.Header, the log record.
func spellingOutputs(t *testing.T, echo string) map[string]string {
	t.Helper()
	return spellingOutputsFor(t, echoPerson{spellName, spellBirthday, spellIDNumber, ""}, echo)
}

// echoPerson is the personal values an IDV request sends; with
// twApplyDate, a Taiwanese ID card's (the Taiwan ID add-on).
type echoPerson struct{ name, birthday, idNumber, twApplyDate string }

// spellingOutputsFor is spellingOutputs for a request that sends p.
func spellingOutputsFor(t *testing.T, p echoPerson, echo string) map[string]string {
	t.Helper()
	c, mux := setup(t, WithMaxRetries(0))
	logger, logs := debugJSONLogger()
	c.cfg.logger = logger
	headerEcho := strings.NewReplacer("\r\n", " ", "\n", " ").Replace(echo)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Echo", headerEcho)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":4001,"message":`+jsonString("rejected: "+echo)+`}`)
	})
	var info ResponseInfo
	req := &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: WorkflowIDOnly,
		CustomerReference: "c-1", ExpectedName: p.name, ExpectedBirthday: p.birthday, ExpectedIDNumber: p.idNumber}
	if p.twApplyDate != "" {
		req.IDType, req.TWIDApplyCode, req.TWIDApplyDate, req.TWIDIssueSiteID = IDTypeIDCard, TWIDApplyCodeOf(TWIDReissue), p.twApplyDate, "10001"
	}
	_, err := c.IDV.InitWeb(t.Context(), req, WithResponseInfo(&info))
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	return map[string]string{
		"Error()":             err.Error(),
		"%+v":                 fmt.Sprintf("%+v", err),
		"APIError.Body":       string(apiErr.Body),
		"APIError.Message":    apiErr.Message,
		"ResponseInfo.Header": strings.Join(info.Header.Values("X-Echo"), "\n"),
		"log record":          logs.String(),
	}
}

// normalised undoes the spellings a reader can undo at a glance: JSON
// escapes of line breaks, URL escapes of base64, and white space.
func normalised(s string) string {
	s = strings.NewReplacer(`\r`, "", `\n`, "", `\/`, "/", `\u0026`, "&").Replace(s)
	s = strings.NewReplacer("%2B", "+", "%2F", "/", "%3D", "=", "%2b", "+", "%2f", "/", "%3d", "=").Replace(s)
	return strings.Join(strings.Fields(s), "")
}

// TestEchoSpellingsMasked: each spelling of the name, birthday, ID number,
// key and image is masked in every output; each lookalike survives whole.
func TestEchoSpellingsMasked(t *testing.T) {
	t.Parallel()
	for _, sp := range echoSpellings() {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			hidden := sp.hidden
			if hidden == "" {
				hidden = sp.echo
			}
			for where, out := range spellingOutputs(t, sp.echo) {
				assert.NotContains(t, out, sp.echo, where)
				assert.NotContains(t, out, hidden, where)
				if sp.encoded {
					flat := normalised(out)
					for i := 0; i+16 <= len(hidden); i += 4 {
						if strings.Contains(flat, hidden[i:i+16]) {
							t.Errorf("%s: %q of the encoded value survives", where, hidden[i:i+16])
							break
						}
					}
				}
			}
		})
	}
	for i, text := range lookalikes {
		t.Run(fmt.Sprintf("lookalike %d", i), func(t *testing.T) {
			t.Parallel()
			outs := spellingOutputs(t, text)
			oneLine := strings.Join(strings.Fields(text), " ") // as the message keeps it
			assert.Contains(t, outs["APIError.Message"], oneLine, "the message keeps an ordinary text")
			assert.Contains(t, outs["Error()"], oneLine)
			assert.Contains(t, outs["ResponseInfo.Header"], strings.NewReplacer("\r\n", " ", "\n", " ").Replace(text))
			assert.NotContains(t, outs["APIError.Body"], "[", "nothing masked or withheld in the body")
		})
	}
}

// TestShortValuesAreNotMasked: a value of one or two bytes (a name such as
// "Li") is not masked, as documented: it occurs inside ordinary words.
func TestShortValuesAreNotMasked(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithMaxRetries(0))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message":"Li: a name of two letters; Lindqvist, Lima"}`)
	})
	_, err := c.IDV.InitWeb(t.Context(), &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: WorkflowIDOnly,
		CustomerReference: "c-1", ExpectedName: "Li"})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "Li: a name of two letters; Lindqvist, Lima", apiErr.Message)
}
