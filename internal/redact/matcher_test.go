package redact

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kyabc/kryptogo-go/internal/unorm"
)

const (
	testKey      = "sk-live-7f3a9c1e-KEY"
	testName     = "Renée Zoë Lindqvist"
	testBirthday = "1985-01-31"
	testIDNumber = "A123456789"
)

func wrapLines(s string, n int, eol string) string {
	var lines []string
	for len(s) > n {
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return strings.Join(append(lines, s), eol)
}

// TestMatcherSpellings: every spelling is masked, and nothing around it.
func TestMatcherSpellings(t *testing.T) {
	t.Parallel()
	m := New(testKey, testName, testBirthday, testIDNumber)
	header := base64.StdEncoding.EncodeToString([]byte("Authorization: Bearer " + testKey))
	for _, tc := range []struct{ name, echo string }{
		{"name", testName},
		{"name upper", strings.ToUpper(testName)},
		{"name lower", strings.ToLower(testName)},
		{"name NFD", unorm.NFD(testName)},
		{"name NFD lower", strings.ToLower(unorm.NFD(testName))},
		{"name JSON-escaped", `Ren\u00e9e Zo\u00eb Lindqvist`},
		{"name HTML-escaped", "Ren&eacute;e Zo&euml; Lindqvist"},
		{"name URL-escaped, lower hex", "ren%c3%a9e+zo%c3%ab+lindqvist"},
		{"birthday", testBirthday},
		{"birthday slashes", "1985/01/31"},
		{"birthday compact", "19850131"},
		{"birthday day first", "31/01/1985"},
		{"birthday dots", "1985.01.31"},
		{"birthday month first", "01/31/1985"},
		{"birthday day first dots", "31.01.1985"},
		{"birthday day first dashes", "31-01-1985"},
		{"birthday not padded", "1985-1-31"},
		{"birthday month name", "31 Jan 1985"},
		{"birthday long month", "January 31, 1985"},
		{"birthday upper month", "31-JAN-1985"},
		{"birthday URL-escaped", "1985%2F01%2F31"},
		{"ID number lower", strings.ToLower(testIDNumber)},
		{"key", testKey},
		{"key upper", strings.ToUpper(testKey)},
		{"key hex", hex.EncodeToString([]byte(testKey))},
		{"key hex upper", strings.ToUpper(hex.EncodeToString([]byte(testKey)))},
		{"key base64", base64.StdEncoding.EncodeToString([]byte(testKey))},
		{"key base64 URL-safe raw", base64.RawURLEncoding.EncodeToString([]byte(testKey))},
		{"key header base64 MIME", wrapLines(header, 76, "\r\n")},
		{"key header base64 PEM", wrapLines(header, 64, "\n")},
		{"key header base64 wrapped at 8", wrapLines(header, 8, "\r\n")},
		{"key header base64 JSON-escaped breaks", wrapLines(header, 16, `\r\n`)},
		{"key header base64 URL-escaped", strings.NewReplacer("+", "%2b", "/", "%2F", "=", "%3D").Replace(header)},
		{"key header base64, URL-escaped breaks", strings.ReplaceAll(url.QueryEscape(wrapLines(header, 16, "\r\n")), "%2B", "%2b")},
		{"key header base64, HTML breaks", wrapLines(header, 16, "&#13;&#xA;")},
		{"key header base64, JSON \\u000a", wrapLines(header, 16, `\u000d\u000a`)},
		{"key header base64, quoted twice", wrapLines(header, 16, `\\r\\n`)},
		{"key header base64, indented", wrapLines(header, 16, "\n            ")},
		{"name doubled spaces", "Renée  Zoë   Lindqvist"},
		{"name no-break spaces", "Renée\u00a0Zoë\u202fLindqvist"},
		{"name line breaks and tabs, escaped", `Renée\n\tZoë\u00a0Lindqvist`},
		{"name HTML no-break space", "Renée&nbsp;Zoë&#160;Lindqvist"},
		{"name full-width", "ＲＥＮÉＥ　ＺＯË　ＬＩＮＤＱＶＩＳＴ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := string(m.Bytes([]byte("<< "+tc.echo+" >>"), false))
			assert.Contains(t, out, Mask)
			assert.True(t, strings.HasPrefix(out, "<< ") && strings.HasSuffix(out, " >>"), "only the spelling is masked: %q", out)
			assert.NotContains(t, out, tc.echo)
			assert.False(t, m.Leaks(out), "%q", out)
		})
	}
}

// TestMatcherLeavesLookalikes: text that merely resembles a secret is not
// touched.
func TestMatcherLeavesLookalikes(t *testing.T) {
	t.Parallel()
	m := New(testKey, testName, testBirthday, testIDNumber)
	for _, text := range []string{
		"Renée Zoë Lindgren", "Lindqvist", "Rene Zoe Lindqvist", // another name, a part, without the accents
		"1985-01-13", "1985-13-01", "31/01/1986", "19850130", "1985", // other dates
		"A123456780", "sk-live-7f3a9c1e", // another id, a part of the key
		hex.EncodeToString([]byte("sk-live-7f3a9c1e-KEX")),
		"the target was screened, no match", "request 3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b",
	} {
		assert.Equal(t, text, string(m.Bytes([]byte(text), false)))
		assert.False(t, m.Leaks(text), text)
	}
}

// TestMatcherMasksWholeCharacters: a match in the decomposed view masks
// the whole characters it came from, the combining marks included.
func TestMatcherMasksWholeCharacters(t *testing.T) {
	t.Parallel()
	m := New("", "Zoë")
	assert.Equal(t, "a "+Mask+" b", m.String("a Zoë b"))
	assert.Equal(t, "a "+Mask+" b", m.String("a ZOE\u0308 b"))
	assert.Equal(t, "a "+Mask+" b", m.String("a zoe\u0308\u0301 b"), "a mark after the value goes with its letter")
	assert.Equal(t, "a "+Mask, m.String("a zo\u00eb"))
}

// TestMatcherJSONLiterals: a literal whose escapes spell a secret in any
// case is re-encoded, masked.
func TestMatcherJSONLiterals(t *testing.T) {
	t.Parallel()
	m := New(testKey, testName)
	out := m.String(`{"m":"\u0052EN\u00c9E zo\u00eb LINDQVIST, ok"}`)
	assert.Equal(t, `{"m":"`+Mask+`, ok"}`, out)
}

func TestDateSpellings(t *testing.T) {
	t.Parallel()
	got := dateSpellings("1985-01-31")
	for _, want := range []string{"1985/01/31", "19850131", "31/01/1985", "1985.01.31", "01/31/1985", "31.01.1985", "1985-1-31", "31 Jan 1985", "January 31, 1985", "31-Jan-1985"} {
		assert.Contains(t, got, want)
	}
	assert.Contains(t, dateSpellings("19850131"), "1985-01-31")
	for _, want := range []string{"1985年1月31日", "1985年01月31日", "74/01/31", "074/01/31", "0740131", "74年1月31日"} {
		assert.Contains(t, got, want, "CJK and ROC")
	}
	roc := dateSpellings("1100101") // tw_id_apply_date: 2021-01-01 in the ROC calendar
	for _, want := range []string{"2021-01-01", "2021/1/1", "110/01/01", "110-1-1", "2021年1月1日", "110年1月1日"} {
		assert.Contains(t, roc, want)
	}
	for _, notDate := range []string{"1985-02-30", "A123456789", "Renée", "1985", "31/01/1985", "0000101", "1101332", "110010"} {
		assert.Nil(t, dateSpellings(notDate), notDate)
	}
}

func TestBlobs(t *testing.T) {
	t.Parallel()
	img := make([]byte, 3072)
	for i := range img {
		img[i] = byte(i*7 + i/3)
	}
	b64 := base64.StdEncoding.EncodeToString(img)
	hash := "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
	prose := strings.Repeat("the target was screened against every list and no match was found ", 4)
	for _, tc := range []struct {
		name, in, want string
		truncated      bool
	}{
		{"one run", "image " + b64 + " end", "image " + Blob + " end", false},
		{"a short run", "token " + b64[:100] + " end", "token " + b64[:100] + " end", false},
		{"a run of MinBlob characters alone", b64[:MinBlob], Blob, false},
		{"a run one short of MinBlob alone", b64[:MinBlob-1], b64[:MinBlob-1], false},
		{"a JSON literal of MinBlob characters", `"` + b64[:MinBlob] + `"`, `"` + Blob + `"`, false},
		{"MIME, CRLF", "image " + wrapLines(b64, 76, "\r\n") + "\r\nend", "image " + Blob + "\r\nend", false},
		{"PEM, LF", "image:\n" + wrapLines(b64, 64, "\n") + "\n", "image:\n" + Blob + "\n", false},
		{"JSON-escaped breaks", `{"m":"` + wrapLines(b64, 76, `\r\n`) + `"}`, `{"m":"` + Blob + `"}`, false},
		{"spaced every 4", "image " + wrapLines(b64, 4, " ") + ".", "image " + Blob + ".", false},
		{"URL-escaped", "image: " + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64), "image: " + Blob, false},
		{"MIME, URL-escaped", "image=" + url.QueryEscape(wrapLines(b64, 76, "\r\n")) + "&x=1", "image=" + Blob + "&x=1", false},
		{"PEM, indented", "<img>\n        " + wrapLines(b64, 64, "\n        ") + "\n</img>", "<img>\n        " + Blob + "\n</img>", false},
		{"HTML breaks", "<p>" + wrapLines(b64, 76, "&#13;&#10;") + "</p>", "<p>" + Blob + "</p>", false},
		{"JSON \\u000a breaks", `{"m":"` + wrapLines(b64, 76, `\u000a`) + `"}`, `{"m":"` + Blob + `"}`, false},
		{"JSON quoted twice", `{"m":"{\"i\":\"` + wrapLines(b64, 76, `\\r\\n`) + `\"}"}`, `{"m":"{\"i\":\"` + Blob + `\"}"}`, false},
		{"UUIDs on indented lines", "ids:\n    " + strings.Repeat("3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b\n    ", 6), "ids:\n    " + strings.Repeat("3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b\n    ", 6), false},
		{"form on lines", strings.Repeat("reason=no+match+found+in+the+lists%0Anext=review+the+report%0A", 3), strings.Repeat("reason=no+match+found+in+the+lists%0Anext=review+the+report%0A", 3), false},
		{"prose", prose, prose, false},
		{"prose, wrapped", wrapLines(prose, 40, "\r\n"), wrapLines(prose, 40, "\r\n"), false},
		{"hashes", hash + " " + hash + "\n" + hash, hash + " " + hash + "\n" + hash, false},
		{"cut at the end", "image " + b64[:40], "image " + Blob, true},
		{"cut, wrapped, at the end", "image " + wrapLines(b64[:60], 16, "\n"), "image " + Blob, true},
		{"words at the end of a cut", "see " + prose[:60], "see " + prose[:60], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(Blobs([]byte(tc.in), tc.truncated)))
		})
	}
}
