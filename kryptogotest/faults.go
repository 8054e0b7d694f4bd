package kryptogotest

import (
	"net/http"
	"slices"
	"strings"
)

// failure is an injected answer waiting for the requests it matches: a
// status, or a connection dropped before or after handling.
type failure struct {
	method string // "" for any method
	path   string // "" for any path; a trailing * matches a prefix
	left   int
	status int
	drop   dropPoint
}

// dropPoint is when an injected failure closes the connection.
type dropPoint int

const (
	noDrop       dropPoint = iota
	dropRequest            // before handling: the request is lost
	dropResponse           // after handling: the answer is lost
)

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
