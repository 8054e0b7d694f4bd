package redact

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkMatcher masks a 64 KiB error body (the most the SDK keeps)
// that echoes nothing, and one that echoes the secrets in several
// spellings, and checks it for leaks, as a failed call does once:
//
//	go test -bench Matcher -benchmem ./internal/redact
func BenchmarkMatcher(b *testing.B) {
	plain := strings.Repeat(`{"code":4001,"message":"the target was screened, no match","id":"3f2b8c1e"},`, 64<<10/75)
	echo := strings.Repeat(`{"m":"RENE\u0301E ZOË 31/01/1985 `+secret+` x"},`, 64<<10/60)
	for name, body := range map[string]string{"plain": plain, "echoes": echo, "non-ASCII": strings.Repeat("Zoë Åström ", 64<<10/14)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				m := New(secret, fuzzName, fuzzBirthday)
				out := m.Bytes([]byte(body), true)
				_ = m.Leaks(string(Blobs(out, true)))
			}
		})
	}
}

// BenchmarkMatcherAdversarial masks bodies built to be slow to mask: every
// byte an escape or a reference, layers of escapes for Leaks to peel, one
// letter under thousands of combining marks, JSON literals of one escape
// each, and the prefix all date spellings share. Each size doubles the
// one before: the time per byte stays about the same (linear), a few tens
// of milliseconds for the 64 KiB an error body is cut to.
//
//	go test -bench MatcherAdversarial -benchmem ./internal/redact
func BenchmarkMatcherAdversarial(b *testing.B) {
	bodies := map[string]string{
		"layered escapes": `&amp;amp;#x5c;\\u0026%2525`,
		"references":      "&#x41;",
		"u-escapes":       `\u00e9`,
		"combining marks": "\u0301\u0327",
		"literals":        `"\n"`,
		"date prefix":     "1985-01-3",
		"spaces":          " \t\u00a0",
	}
	m := New(secret, fuzzName, fuzzBirthday)
	for name, unit := range bodies {
		for _, size := range []int{16 << 10, 32 << 10, 64 << 10} {
			body := []byte(strings.Repeat(unit, size/len(unit)))
			if name == "combining marks" {
				body = append([]byte("a"), body...)
			}
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					out := m.Bytes(body, true)
					_ = m.Leaks(string(Blobs(out, true)))
				}
			})
		}
	}
}
