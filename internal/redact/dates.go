package redact

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dateSpellings returns the other common spellings of v when v is a date
// written year first (1985-01-31, 1985/01/31, 1985.01.31, 19850131) or
// as a 7-digit Republic of China date, as the API's tw_id_apply_date is
// (1100101 is 2021-01-01): year first, day first and month first, with -,
// / or . between the parts or none, with and without leading zeros, with
// the month's English name ("31 Jan 1985", "January 31, 1985",
// "31-Jan-1985"), in CJK ("1985年1月31日"), and in the ROC calendar
// ("74/01/31", "074/01/31", "0740131", "民國74年1月31日"). It returns nil for
// anything else.
func dateSpellings(v string) []string {
	date, ok := parseDate(strings.TrimSpace(v))
	if !ok {
		return nil
	}
	y, m, d := date.Format("2006"), strconv.Itoa(int(date.Month())), strconv.Itoa(date.Day())
	mm, dd := date.Format("01"), date.Format("02")
	var out []string
	for _, sep := range []string{"-", "/", "."} {
		out = append(out,
			y+sep+mm+sep+dd, dd+sep+mm+sep+y, mm+sep+dd+sep+y, // padded
			y+sep+m+sep+d, d+sep+m+sep+y, m+sep+d+sep+y) // not padded
	}
	out = append(out, y+mm+dd, dd+mm+y, mm+dd+y)
	for _, month := range []string{date.Format("Jan"), date.Format("January")} {
		out = append(out, d+" "+month+" "+y, dd+" "+month+" "+y, month+" "+d+", "+y, month+" "+dd+", "+y,
			month+" "+d+" "+y, d+"-"+month+"-"+y, dd+"-"+month+"-"+y, y+"-"+month+"-"+dd)
	}
	out = append(out, cjkDates(y, m, d, mm, dd)...)
	if roc := date.Year() - rocEraOffset; roc > 0 {
		out = append(out, rocDates(roc, m, d, mm, dd)...)
	}
	return out
}

// cjkDates spells a date year first with 年, 月 and 日, padded or not.
func cjkDates(y, m, d, mm, dd string) []string {
	return []string{y + "年" + m + "月" + d + "日", y + "年" + mm + "月" + dd + "日"}
}

// rocEraOffset converts a Republic of China year to a Gregorian one.
const rocEraOffset = 1911

// rocDates spells a date in the ROC calendar, whose year is roc: with /,
// - or . between the parts (the year as it is and padded to three
// digits), as seven digits, and in CJK (with 民國, the era's name, or
// without).
func rocDates(roc int, m, d, mm, dd string) []string {
	y, y3 := strconv.Itoa(roc), fmt.Sprintf("%03d", roc)
	var out []string
	for _, sep := range []string{"/", "-", "."} {
		out = append(out, y+sep+mm+sep+dd, y3+sep+mm+sep+dd, y+sep+m+sep+d)
	}
	out = append(out, y3+mm+dd)
	return append(out, cjkDates(y, m, d, mm, dd)...) // 民國 may precede it: a match inside
}

// dateLayouts are the year-first forms a personal date is sent in.
var dateLayouts = []string{"2006-01-02", "2006/01/02", "2006.01.02", "20060102"}

// parseDate reads a year-first date, or a 7-digit ROC date.
func parseDate(v string) (time.Time, bool) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return parseROCDate(v)
}

// parseROCDate reads a 7-digit ROC date: YYYMMDD, the year of the era.
func parseROCDate(v string) (time.Time, bool) {
	if len(v) != 7 || strings.Trim(v, "0123456789") != "" {
		return time.Time{}, false
	}
	roc, _ := strconv.Atoi(v[:3])
	if roc == 0 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102", strconv.Itoa(roc+rocEraOffset)+v[3:])
	return t, err == nil
}
