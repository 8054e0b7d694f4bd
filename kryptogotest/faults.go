package kryptogotest

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Fault is what the fake does to one request instead of answering it as the
// API would: FailNext and the other knobs inject faults, SetFaultFunc
// decides one per request. The zero Fault answers the request as usual.
type Fault struct {
	// Status answers the request with this status, and a body
	// {"code", "message": "injected failure"}; a 429 or 503 carries
	// Retry-After: 0.
	Status int
	// Drop closes the connection without a byte of answer.
	Drop bool
	// AfterHandling acts on the request first (a POST /task creates its
	// tasks), then answers Status or drops the connection, as when a
	// server fails after the API acted. Without it, the request is not
	// handled at all.
	AfterHandling bool
	// Delay waits this long before anything else, besides the latency.
	Delay time.Duration
}

// answers reports whether the fault replaces the answer (a status or a
// dropped connection), not only delays it.
func (f Fault) answers() bool { return f.Status != 0 || f.Drop }

// failure is an injected fault waiting for the requests it matches.
type failure struct {
	method string // "" for any method
	path   string // "" for any path; a trailing * matches a prefix
	left   int
	fault  Fault
}

func (f failure) matches(r *http.Request) bool {
	if f.method != "" && !strings.EqualFold(f.method, r.Method) {
		return false
	}
	if f.path == "" || f.path == r.URL.Path {
		return true
	}
	prefix, ok := strings.CutSuffix(f.path, "*")
	return ok && strings.HasPrefix(r.URL.Path, prefix)
}

// waitsOn reports whether f was injected for exactly method and path.
func (f failure) waitsOn(method, path string) bool {
	return strings.EqualFold(f.method, method) && f.path == path
}

// faults are the injected failures not used up, in the order they were
// injected.
type faults []failure

// add injects f; with n (f.left) of 0 or less, it withdraws instead the
// faults waiting on exactly f's method and path.
func (q *faults) add(f failure) {
	if f.left > 0 {
		*q = append(*q, f)
		return
	}
	*q = slices.DeleteFunc(*q, func(w failure) bool { return w.waitsOn(f.method, f.path) })
}

// take returns the failure r uses, counted, or false when none matches.
// The rule: the first injected of the faults that name r's path (exactly
// or by prefix), else the first injected of the faults on any path.
func (q *faults) take(r *http.Request) (failure, bool) {
	for _, perPath := range []bool{true, false} {
		for i := range *q {
			f := &(*q)[i]
			if (f.path != "") == perPath && f.matches(r) {
				used := *f
				if f.left--; f.left == 0 {
					*q = append((*q)[:i], (*q)[i+1:]...)
				}
				return used, true
			}
		}
	}
	return failure{}, false
}
