// Package backoff computes the waits between retries and polls.
package backoff

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy is an exponential backoff with jitter between Min and Max.
type Policy struct {
	Min, Max time.Duration
	// Rand returns a value in [0, 1); nil means math/rand/v2.Float64. Tests
	// set it to make waits predictable.
	Rand func() float64
}

// Delay returns the wait before retry number n (0 for the first retry): a
// uniformly random duration in [Min, min(Max, Min·2ⁿ⁺¹)]. Every wait is
// jittered, so clients that failed together do not retry together, and none
// is shorter than Min or longer than Max.
func (p Policy) Delay(n int) time.Duration {
	lo, hi := p.Min, p.ceiling(n)
	if hi <= lo {
		return lo
	}
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	return lo + time.Duration(r()*float64(hi-lo))
}

func (p Policy) ceiling(n int) time.Duration {
	ceiling := p.Min
	for i := 0; i <= n && ceiling < p.Max; i++ {
		ceiling *= 2
		if ceiling <= 0 { // overflow
			return p.Max
		}
	}
	return min(ceiling, p.Max)
}

// maxRetryAfter caps a Retry-After: a server asking for more than a day is
// broken, and a date centuries ahead would overflow.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). It reports false for an absent or malformed
// value. A date in the past is a zero wait; any wait is at most a day, and
// a number too large to parse is a day too.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if strings.Trim(value, "0123456789") == "" { // delay-seconds = 1*DIGIT
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil { // too many digits for int64: a very long wait, not garbage
			return maxRetryAfter, true
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return min(max(at.Sub(now), 0), maxRetryAfter), true
}
