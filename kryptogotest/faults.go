package kryptogotest

import (
	"net/http"
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
