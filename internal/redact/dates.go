package redact

import (
	"strconv"
	"strings"
	"time"
)

// dateSpellings returns the other common spellings of v when v is a date
// written year first (1985-01-31, 1985/01/31, 1985.01.31, 19850131): year
// first, day first and month first, with -, / or . between the parts or
// none, with and without leading zeros, and with the month's English name
// ("31 Jan 1985", "January 31, 1985", "31-Jan-1985"). It returns nil for
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
	return out
}

// dateLayouts are the year-first forms a personal date is sent in.
var dateLayouts = []string{"2006-01-02", "2006/01/02", "2006.01.02", "20060102"}

func parseDate(v string) (time.Time, bool) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
