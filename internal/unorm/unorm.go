// Package unorm is Unicode canonical decomposition (NFD) for the redactor:
// a name the request spelled composed ("José", NFC) and a server echoed
// decomposed ("Jose" + U+0301, NFD), or the reverse, is the same name once
// both are decomposed. The standard library has no normalisation and the
// SDK depends on nothing else at run time, so the tables are generated
// from golang.org/x/text/unicode/norm (see gen/, and README.md here) and
// checked against it there.
package unorm

//go:generate sh -c "cd gen && go run . -out ../tables.go"

import (
	"slices"
	"unicode/utf8"
)

// Hangul syllables decompose by arithmetic (Unicode §3.12), not by table.
const (
	hangulBase  = 0xAC00
	hangulL     = 0x1100
	hangulV     = 0x1161
	hangulT     = 0x11A7
	hangulVN    = 21
	hangulTN    = 28
	hangulN     = hangulVN * hangulTN
	hangulCount = 19 * hangulN
)

// AppendRune appends the full canonical decomposition of r to dst, in the
// order the table gives (each decomposition is already canonically
// ordered); r itself when it has none.
func AppendRune(dst []rune, r rune) []rune {
	if r < 0xC0 { // nothing below À decomposes
		return append(dst, r)
	}
	if s := r - hangulBase; s >= 0 && s < hangulCount {
		dst = append(dst, hangulL+s/hangulN, hangulV+(s%hangulN)/hangulTN)
		if t := s % hangulTN; t != 0 {
			dst = append(dst, hangulT+t)
		}
		return dst
	}
	i, found := slices.BinarySearch(decompRunes[:], r)
	if !found {
		return append(dst, r)
	}
	start := 0
	if i > 0 {
		start = int(decompEnds[i-1])
	}
	for _, d := range decompText[start:decompEnds[i]] {
		dst = append(dst, d)
	}
	return dst
}

// CombiningClass returns r's canonical combining class: 0 for a starter.
func CombiningClass(r rune) uint8 {
	if r < 0x300 { // the first combining mark is U+0300
		return 0
	}
	i, found := slices.BinarySearchFunc(cccRanges[:], r, func(e cccRange, r rune) int {
		switch {
		case e.hi < r:
			return -1
		case e.lo > r:
			return 1
		}
		return 0
	})
	if !found {
		return 0
	}
	return cccRanges[i].ccc
}

// Order puts the combining marks of runes in canonical order: each run of
// non-starters is sorted, stably, by combining class. Each rune's class is
// looked up once (a lookup is a binary search).
func Order(runes []rune) {
	if len(runes) < 2 {
		return
	}
	var buf [32]classed
	for i := 0; i < len(runes); {
		if CombiningClass(runes[i]) == 0 {
			i++
			continue
		}
		run := buf[:0]
		for _, r := range runes[i:] {
			c := CombiningClass(r)
			if c == 0 {
				break
			}
			run = append(run, classed{r, c})
		}
		slices.SortStableFunc(run, func(a, b classed) int { return int(a.ccc) - int(b.ccc) })
		for k, m := range run {
			runes[i+k] = m.r
		}
		i += len(run)
	}
}

// classed is a rune and its combining class.
type classed struct {
	r   rune
	ccc uint8
}

// NFD returns s in Normalization Form D: decomposed and canonically
// ordered. Invalid UTF-8 is kept as U+FFFD.
func NFD(s string) string {
	if isASCII(s) {
		return s
	}
	runes := make([]rune, 0, len(s))
	for _, r := range s {
		runes = AppendRune(runes, r)
	}
	Order(runes)
	out := make([]byte, 0, len(s)+len(s)/2)
	for _, r := range runes {
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// cccRange gives the combining class of the runes lo..hi.
type cccRange struct {
	lo, hi rune
	ccc    uint8
}
