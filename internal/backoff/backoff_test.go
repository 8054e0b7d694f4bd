package backoff

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDelayBounds(t *testing.T) {
	t.Parallel()
	p := Policy{Min: 500 * time.Millisecond, Max: 8 * time.Second}
	for n, wantCeiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second} {
		t.Run(fmt.Sprintf("retry %d", n), func(t *testing.T) {
			low := p
			low.Rand = func() float64 { return 0 }
			high := p
			high.Rand = func() float64 { return 0.999999999 }
			assert.Equal(t, p.Min, low.Delay(n), "retry %d floor", n)
			assert.InDelta(t, float64(wantCeiling), float64(high.Delay(n)), float64(time.Microsecond), "retry %d ceiling", n)
		})
	}
	for n := 0; n < 100; n++ {
		d := p.Delay(n % 7)
		assert.GreaterOrEqual(t, d, p.Min)
		assert.LessOrEqual(t, d, p.Max)
	}
}

func TestDelayHugeAttemptDoesNotOverflow(t *testing.T) {
	t.Parallel()
	p := Policy{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 0.5 }}
	d := p.Delay(1000)
	assert.Greater(t, d, time.Second)
	assert.LessOrEqual(t, d, time.Minute)
}

func TestDelayMinEqualsMax(t *testing.T) {
	t.Parallel()
	p := Policy{Min: time.Second, Max: time.Second}
	assert.Equal(t, time.Second, p.Delay(3))
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"Wed, 25 Nov 2026 12:00:10 GMT", 10 * time.Second, true},
		{"Wed, 25 Nov 2026 11:00:00 GMT", 0, true},
		{"Wednesday, 25-Nov-26 12:00:05 GMT", 5 * time.Second, true},
		{"99999999999", 24 * time.Hour, true},
		{"99999999999999999999", 24 * time.Hour, true}, // overflows int64: very long, not garbage
		{"+5", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, now)
			assert.Equal(t, tc.ok, ok, "ParseRetryAfter(%q)", tc.in)
			assert.Equal(t, tc.want, got, "ParseRetryAfter(%q)", tc.in)
		})
	}
}

// FuzzParseRetryAfter: any header value parses without panic to a wait in
// [0, 24h], or to no wait at all.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{"0", "3", "-1", "86401", "99999999999999999999", " 7 ", "soon",
		now.Add(7 * time.Second).Format(http.TimeFormat), "Mon, 02 Jan 2006 15:04:05 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		d, ok := ParseRetryAfter(value, now)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: no wait but %v", value, d)
			}
			return
		}
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("%q: wait %v outside [0, 24h]", value, d)
		}
		if again, ok2 := ParseRetryAfter(value, now); again != d || !ok2 {
			t.Fatalf("%q: not deterministic", value)
		}
	})
}
