package kryptogotest

import "time"

// rateWindow admits at most n requests in any span of per: a sliding
// window, so a burst at the end of one minute and another at the start of
// the next are not both admitted, as they would be with fixed windows. Its
// zero value, and n of 0 or less, admit every request.
type rateWindow struct {
	n        int
	per      time.Duration
	admitted []time.Time // the admissions within per of the latest, oldest first
}

// admit records a request at now and reports how long the client should
// wait before sending it again: 0 when it is admitted.
func (w *rateWindow) admit(now time.Time) time.Duration {
	if w.n <= 0 {
		return 0
	}
	kept := w.admitted[:0]
	for _, t := range w.admitted {
		if now.Sub(t) < w.per {
			kept = append(kept, t)
		}
	}
	w.admitted = kept
	if len(w.admitted) >= w.n {
		return w.admitted[0].Add(w.per).Sub(now) // when the oldest leaves the window
	}
	w.admitted = append(w.admitted, now)
	return 0
}
