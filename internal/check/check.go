// Package check holds the field rules of the KryptoGO API reference as pure
// functions. Each returns "" when the value passes, else a message for a
// kryptogo.FieldError. Messages say what is expected and never quote the
// value: a rejected birthday or ID field is personal data, and validation
// errors end up in logs.
package check

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kyabc/kryptogo-go/internal/iso3166"
)

// Date checks a YYYY-MM-DD date that exists on the calendar.
func Date(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "is not a date in YYYY-MM-DD form"
	}
	return ""
}

// Alpha3 checks an upper-case ISO 3166-1 alpha-3 country code.
func Alpha3(s string) string {
	if iso3166.IsAlpha3(s) {
		return ""
	}
	if iso3166.IsAlpha3(strings.ToUpper(s)) {
		return "must be an upper-case ISO 3166-1 alpha-3 country code (e.g. TWN, USA)"
	}
	return "is not an ISO 3166-1 alpha-3 country code (e.g. TWN, USA)"
}

// Country checks an ISO 3166-1 alpha-3 or numeric country code.
func Country(s string) string {
	if iso3166.IsNumeric(s) {
		return ""
	}
	if msg := Alpha3(s); msg != "" {
		return "is not an ISO 3166-1 alpha-3 or numeric country code (e.g. TWN or 158)"
	}
	return ""
}

// HTTPURL checks an absolute http or https URL with a host.
func HTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

// MaxLen checks that s has at most n characters.
func MaxLen(s string, n int) string {
	if c := utf8.RuneCountInString(s); c > n {
		return fmt.Sprintf("is %d characters long; the limit is %d", c, n)
	}
	return ""
}

// rocEraOffset converts a Republic of China year to a Gregorian one.
const rocEraOffset = 1911

// ROCDate checks a 7-digit Republic of China date (YYYMMDD, 1070102 is
// 2018-01-02) that exists on the calendar.
func ROCDate(s string) string {
	if len(s) != 7 || strings.Trim(s, "0123456789") != "" {
		return "must be a 7-digit ROC date (YYYMMDD, e.g. 1070102)"
	}
	year, _ := strconv.Atoi(s[:3])
	gregorian := fmt.Sprintf("%04d-%s-%s", year+rocEraOffset, s[3:5], s[5:7])
	if year == 0 || Date(gregorian) != "" {
		return "is not a real ROC date (YYYMMDD)"
	}
	return ""
}

// twIssueSites are the issuing-location codes of the Taiwan ID add-on.
var twIssueSites = map[string]bool{
	"10001": true, "10002": true, "10003": true, "10004": true, "10005": true,
	"10006": true, "10007": true, "10008": true, "10009": true, "10010": true,
	"10011": true, "10012": true, "10013": true, "10014": true, "10015": true,
	"10016": true, "10017": true, "10018": true, "10019": true, "10020": true,
	"09007": true, "09020": true,
	"63000": true, "64000": true, "65000": true, "66000": true, "67000": true, "68000": true,
}

// TWIssueSite checks a Taiwan ID issuing-location code.
func TWIssueSite(s string) string {
	if twIssueSites[s] {
		return ""
	}
	return "is not a Taiwan ID issuing-location code (e.g. 63000 for Taipei City)"
}

// Locales are the web IDV page languages.
var Locales = strings.Fields(`ar bg cs da de el en en-GB es es-MX et fi fr he hr hu hy id it ja ka km ko
	lt ms nl no pl pt pt-BR ro ru sk sv sw th tr vi zh-CN zh-HK`)

// Locale checks a web IDV page language.
func Locale(s string) string {
	for _, l := range Locales {
		if l == s {
			return ""
		}
	}
	return "is not a supported locale (" + strings.Join(Locales, ", ") + ")"
}

// MIMEType checks an image mime type the API takes.
func MIMEType(s string) string {
	if s == "image/jpeg" || s == "image/png" {
		return ""
	}
	return "is not supported; use image/jpeg or image/png"
}
