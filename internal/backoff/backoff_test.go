package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDelayBounds(t *testing.T) {
	p := Policy{Min: 500 * time.Millisecond, Max: 8 * time.Second}
	for n, wantCeiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second} {
		low := p
		low.Rand = func() float64 { return 0 }
		high := p
		high.Rand = func() float64 { return 0.999999999 }
		assert.Equal(t, p.Min, low.Delay(n), "retry %d floor", n)
		assert.InDelta(t, float64(wantCeiling), float64(high.Delay(n)), float64(time.Microsecond), "retry %d ceiling", n)
	}
	for n := 0; n < 100; n++ {
		d := p.Delay(n % 7)
		assert.GreaterOrEqual(t, d, p.Min)
		assert.LessOrEqual(t, d, p.Max)
	}
}

func TestDelayHugeAttemptDoesNotOverflow(t *testing.T) {
	p := Policy{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 0.5 }}
	d := p.Delay(1000)
	assert.Greater(t, d, time.Second)
	assert.LessOrEqual(t, d, time.Minute)
}

func TestDelayMinEqualsMax(t *testing.T) {
	p := Policy{Min: time.Second, Max: time.Second}
	assert.Equal(t, time.Second, p.Delay(3))
}

func TestParseRetryAfter(t *testing.T) {
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
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "ParseRetryAfter(%q)", tc.in)
		assert.Equal(t, tc.want, got, "ParseRetryAfter(%q)", tc.in)
	}
}
