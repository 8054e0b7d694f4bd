package main

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// TestRedactorMatchesEveryCaseMapping: a name holding any letter is masked
// however a server changed its case: Unicode's full upper, lower and
// folded case (ß as SS, ﬁ as FI), the Turkish mappings of i and ı, and Go's
// own strings.ToUpper and strings.ToLower.
func TestRedactorMatchesEveryCaseMapping(t *testing.T) {
	mappings := map[string]func(string) string{
		"upper":         cases.Upper(language.Und).String,
		"lower":         cases.Lower(language.Und).String,
		"fold":          cases.Fold().String,
		"Turkish upper": cases.Upper(language.Turkish).String,
		"Turkish lower": cases.Lower(language.Turkish).String,
		"Go upper":      strings.ToUpper,
		"Go lower":      strings.ToLower,
	}
	checked := 0
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) || !unicode.IsLetter(r) {
			continue
		}
		value := "Qz" + string(r) + "zQ"
		var m *redact.Matcher
		for name, mapping := range mappings {
			echo := mapping(value)
			if echo == value {
				continue
			}
			if m == nil {
				m = redact.New("", value)
			}
			checked++
			if got := m.String("<" + echo + ">"); got != "<"+redact.Mask+">" {
				t.Errorf("%U %s: %+q echoed as %+q is %+q", r, name, value, echo, got)
			}
		}
	}
	t.Logf("%d echoes checked", checked)
}
