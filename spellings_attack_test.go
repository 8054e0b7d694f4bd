package kryptogo

// Attack on issue 15's echo masking by meaning: spellings a server
// produces from the promised ones that got through.
//
//   - base64 wrapped and then escaped: URL-escaped line breaks (%0D%0A, as
//     url.QueryEscape writes a wrapped text), HTML line breaks (&#10;),
//     indented lines (a line break and more than four spaces), JSON's
//     \u000a, a JSON text quoted in another (\\r\\n);
//   - letter case the way servers change it: Python, JavaScript and Java
//     upper-case "ß" as "SS"; Go, Python and Java upper-case the Turkish
//     dotless "ı" as "I", and Go lower-cases "İ" as a plain "i";
//   - white space: a name echoed with its spaces doubled, as no-break
//     spaces or tabs, or trimmed of the spaces the request sent;
//   - full-width forms (Ｊｏｈｎ, Ａ１２３), which East Asian systems write
//     for Latin letters and digits;
//   - dates as a Taiwanese service writes them: the ROC calendar the API
//     itself uses for tw_id_apply_date (1100101), and CJK dates.
//
// Each must be masked wherever the caller can see it, like the spellings
// of TestEchoSpellingsMasked; the lookalikes must be left whole.

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fullWidth spells s's ASCII letters and digits in their full-width forms.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7F {
			return r + 0xFEE0
		}
		return r
	}, s)
}

func TestEchoSpellingsAttackMasked(t *testing.T) {
	t.Parallel()
	img := base64.StdEncoding.EncodeToString(spellImage())
	keyB64 := base64.StdEncoding.EncodeToString([]byte("GOFACT-API-TOKEN: " + testKey))
	keyRun := keyB64[(len("GOFACT-API-TOKEN: ")+2)/3*4 : len("GOFACT-API-TOKEN: "+testKey)/3*4]
	renee := echoPerson{spellName, spellBirthday, spellIDNumber, ""}
	strauss := echoPerson{"Johann Straußberger", spellBirthday, spellIDNumber, ""}
	yilmaz := echoPerson{"İlker Yılmaz", spellBirthday, spellIDNumber, ""}
	padded := echoPerson{"  Renée Zoë Lindqvist ", spellBirthday, " A123456789 ", ""}
	taiwan := echoPerson{"Chen Mei-Ling", "1990-05-17", "A223456789", "1100101"}
	for _, tc := range []struct {
		name    string
		person  echoPerson
		echo    string
		hidden  string // what must not survive (echo when empty)
		encoded bool   // no 16 characters of hidden may survive either
	}{
		{name: "image in MIME base64, URL-escaped", person: renee, echo: url.QueryEscape(wrap(img, 76, "\r\n")), hidden: img, encoded: true},
		{name: "image in PEM base64, indented", person: renee, echo: wrap(img, 64, "\n        "), hidden: img, encoded: true},
		{name: "image in base64 wrapped with JSON \\u000a", person: renee, echo: wrap(img, 76, `\u000a`), hidden: img, encoded: true},
		{name: "image in base64 quoted twice in JSON", person: renee, echo: wrap(img, 76, `\\r\\n`), hidden: img, encoded: true},
		{name: "image in base64 with HTML line breaks", person: renee, echo: wrap(img, 76, "&#13;&#10;"), hidden: img, encoded: true},
		{name: "key header in base64, URL-escaped", person: renee, echo: url.QueryEscape(wrap(keyB64, 16, "\n")), hidden: keyRun, encoded: true},
		{name: "key header in base64 with HTML line breaks", person: renee, echo: wrap(keyB64, 16, "&#10;"), hidden: keyRun, encoded: true},
		{name: "key header in base64, indented", person: renee, echo: wrap(keyB64, 12, "\r\n          "), hidden: keyRun, encoded: true},
		{name: "ß upper-cased as SS", person: strauss, echo: "JOHANN STRAUSSBERGER", hidden: "STRAUSSBERGER"},
		{name: "ß in another case", person: strauss, echo: "johann straussberger", hidden: "straussberger"},
		{name: "ß as capital ẞ", person: strauss, echo: "JOHANN STRAUẞBERGER", hidden: "STRAUẞBERGER"},
		{name: "dotless ı upper-cased", person: yilmaz, echo: "İLKER YILMAZ", hidden: "YILMAZ"},
		{name: "İ lower-cased by Go", person: yilmaz, echo: strings.ToLower("İlker Yılmaz"), hidden: "lker y"},
		{name: "İ and ı ASCII-folded", person: yilmaz, echo: "ILKER YILMAZ", hidden: "LKER YILMAZ"},
		{name: "name with doubled spaces", person: renee, echo: "Renée  Zoë   Lindqvist", hidden: "Zoë   Lindqvist"},
		{name: "name with no-break spaces", person: renee, echo: "Renée\u00a0Zoë\u00a0Lindqvist", hidden: "Zoë\u00a0Lindqvist"},
		{name: "name with tabs", person: renee, echo: "Renée\tZoë\tLindqvist", hidden: "Zoë\tLindqvist"},
		{name: "name with HTML no-break spaces", person: renee, echo: "Renée&nbsp;Zoë&nbsp;Lindqvist", hidden: "Zo"},
		{name: "name sent with spaces around, echoed trimmed", person: padded, echo: "Renée Zoë Lindqvist", hidden: "Zoë Lindqvist"},
		{name: "ID number sent with spaces around, echoed trimmed", person: padded, echo: "[A123456789]", hidden: "A123456789"},
		{name: "name in full-width letters", person: renee, echo: fullWidth("RENÉE ZOË LINDQVIST"), hidden: fullWidth("LINDQVIST")},
		{name: "ID number in full-width", person: renee, echo: fullWidth(spellIDNumber), hidden: fullWidth("123456789")},
		// Dates as a Taiwanese service writes them: the API's own ROC form
		// (tw_id_apply_date 1100101 is 2021-01-01), with separators or as
		// the Gregorian date, and CJK dates.
		{name: "ROC apply date as the Gregorian date", person: taiwan, echo: "issued 2021-01-01", hidden: "2021-01-01"},
		{name: "ROC apply date with slashes", person: taiwan, echo: "issued 110/01/01", hidden: "110/01/01"},
		{name: "ROC apply date in CJK", person: taiwan, echo: "民國110年1月1日", hidden: "110年1月1日"},
		{name: "birthday in CJK", person: renee, echo: "1985年01月31日", hidden: "1985年01月31日"},
		{name: "birthday in CJK, not padded", person: renee, echo: "1985年1月31日", hidden: "1985年1月31日"},
		{name: "birthday as an ROC date", person: renee, echo: "民國74年1月31日", hidden: "74年1月31日"},
		{name: "birthday as an ROC date with slashes", person: renee, echo: "074/01/31", hidden: "074/01/31"},
		{name: "birthday as a 7-digit ROC date", person: renee, echo: "0740131", hidden: "0740131"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hidden := tc.hidden
			if hidden == "" {
				hidden = tc.echo
			}
			for where, out := range spellingOutputsFor(t, tc.person, tc.echo) {
				assert.NotContains(t, out, hidden, where)
				if tc.encoded {
					flat := normalised(strings.NewReplacer("%0D", "", "%0A", "", "&#13;", "", "&#10;", "", `\u000a`, "", `\\r\\n`, "", `\`, "").Replace(out))
					for i := 0; i+16 <= len(hidden); i += 4 {
						if strings.Contains(flat, hidden[i:i+16]) {
							t.Errorf("%s: %q of the encoded value survives: %.200s", where, hidden[i:i+16], out)
							break
						}
					}
				}
			}
		})
	}
}

// attackLookalikes resemble the new spellings without spelling a secret:
// identifiers listed on indented lines, a form-encoded text, names that
// share a part with the customer's, ordinary words.
var attackLookalikes = []string{
	"request ids:\n        3f2b8c1e-9a4d-4e7b-8c2f-1a5d6e7f8a9b\n        4a3c9d2f-0b5e-4f8c-9d3a-2b6e7f8a9b0c\n" +
		"        5b4d0e3a-1c6f-4a9d-8e4b-3c7f8a9b0c1d\n        6c5e1f4b-2d7a-4b0e-9f5c-4d8a9b0c1d2e",
	strings.Repeat("field=target.name%0Areason=mismatch%0Aexpected=a+different+spelling%0Aseen=another+customer+entirely%0A", 3),
	"Renée Lindqvist and Zoë Lind are other customers; Strauss and Yilmaz too",
	"STRASSE 12, ISTANBUL; Ａｃｃｏｕｎｔ ｓｕｓｐｅｎｄｅｄ",
}

func TestEchoAttackLookalikesKept(t *testing.T) {
	t.Parallel()
	for i, text := range attackLookalikes {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			outs := spellingOutputsFor(t, echoPerson{spellName, spellBirthday, spellIDNumber, ""}, text)
			assert.Contains(t, outs["APIError.Message"], strings.Join(strings.Fields(text), " "), "the message keeps an ordinary text")
			assert.NotContains(t, outs["APIError.Body"], "[", "nothing masked or withheld in the body")
		})
	}
}
