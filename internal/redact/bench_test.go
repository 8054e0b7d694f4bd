package redact

import (
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
