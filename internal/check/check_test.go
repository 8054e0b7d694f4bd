package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type rule struct {
	name string
	fn   func(string) string
	good []string
	bad  []string
}

func TestRules(t *testing.T) {
	t.Parallel()
	for _, r := range []rule{
		{"Date", Date, []string{"1990-06-21", "2024-02-29", "2000-01-01"}, []string{"", "1987/07/14", "14.07.1987", "1990-6-21", "2023-02-29", "1990-13-01", "21/06/1990", "1990-06-21T00:00:00Z"}},
		{"Alpha3", Alpha3, []string{"TWN", "USA", "XKX"}, []string{"", "twn", "TW", "158", "XXX", "TAIWAN"}},
		{"Country", Country, []string{"TWN", "158", "004"}, []string{"", "tw", "4", "999", "ZZZ"}},
		{"HTTPURL", HTTPURL, []string{"https://example.com/cb?x=1", "http://127.0.0.1:8080/x"}, []string{"", "example.com/cb", "/cb", "ftp://example.com", "https://", "javascript:alert(1)", "http://[::1"}},
		{"ROCDate", ROCDate, []string{"1070102", "0890229", "1130229"}, []string{"", "107012", "10701022", "107a102", "1071302", "1120229", "0000101"}},
		{"TWIssueSite", TWIssueSite, []string{"10001", "09007", "63000", "10019", "68000"}, []string{"", "10021", "9007", "69000", "1001"}},
		{"Locale", Locale, []string{"en", "zh-HK", "pt-BR", "en-GB"}, []string{"", "EN", "zh-TW", "en_GB", "xx"}},
		{"MIMEType", MIMEType, []string{"image/jpeg", "image/png"}, []string{"", "image/jpg", "image/gif", "IMAGE/PNG"}},
	} {
		t.Run(r.name, func(t *testing.T) {
			for _, v := range r.good {
				assert.Empty(t, r.fn(v), "%s(%q) should pass", r.name, v)
			}
			for _, v := range r.bad {
				msg := r.fn(v)
				assert.NotEmpty(t, msg, "%s(%q) should fail", r.name, v)
				// A rejected birthday or ID field is personal data, and messages
				// end up in logs: they say what is expected, never what was given.
				if len(v) >= 3 {
					assert.NotContains(t, msg, v, "%s echoes the value it rejects", r.name)
				}
			}
		})
	}
}

func TestMaxLen(t *testing.T) {
	t.Parallel()
	assert.Empty(t, MaxLen("王又曾", 3), "counts characters, not bytes")
	assert.Equal(t, "is 4 characters long; the limit is 3", MaxLen("abcd", 3))
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	eth := map[string]bool{
		"0x72a5843cc08275C8171E582972Aa4fDa8C397B2A":  true,
		"0x72a5843cc08275c8171e582972aa4fda8c397b2a":  true,
		"0x72a5843cc08275c8171e582972aa4fda8c397b2":   false,
		"0x72a5843cc08275c8171e582972aa4fda8c397b2aa": false,
		"72a5843cc08275c8171e582972aa4fda8c397b2a00":  false,
		"0x72a5843cc08275c8171e582972aa4fda8c397b2g":  false,
	}
	for addr, want := range eth {
		assert.Equal(t, want, IsETHAddress(addr), addr)
	}
	btc := map[string]bool{
		"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa":                             true,
		"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy":                             true,
		"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq":                     true,
		"BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ":                     true,
		"bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297": true,
		"bc1Qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq":                     false,
		"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdb":                     false, // 'b' is not bech32
		"1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a":                             false, // '0' is not base58
		"tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx":                     false,
		"2A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa":                             false,
		"0x72a5843cc08275c8171e582972aa4fda8c397b2a":                     false,
	}
	for addr, want := range btc {
		assert.Equal(t, want, IsBTCAddress(addr), addr)
	}
}
