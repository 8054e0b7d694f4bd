package kryptogo

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultIdleConns is how many idle connections the default transport
// keeps, per host and in all: more than the callers a client will have.
const defaultIdleConns = 1024

// defaultTransport is tuned for many concurrent calls to one host: net/http's
// default keeps only 2 idle connections per host, so a burst of screenings
// would open and close connections all the time. A pool smaller than the
// callers also makes them dial more connections than there are callers:
// net/http puts a connection back in the pool just after its caller read
// the answer, so a caller that comes back at once dials a new one, and a
// full pool closes the spare connection instead of keeping it for the next
// such race. Keeping every connection bounds N callers to N connections.
func defaultTransport() *http.Transport {
	t := baseTransport()
	t.MaxIdleConns = defaultIdleConns
	t.MaxIdleConnsPerHost = defaultIdleConns
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 0 // bounded per attempt by WithTimeout
	return t
}

// baseTransport clones net/http's default transport (proxy from the
// environment, dial timeouts, HTTP/2). Instrumentation and mocking libraries
// replace http.DefaultTransport with their own RoundTripper; the SDK then
// builds the same defaults itself rather than wrap theirs or panic.
func baseTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
}

// guardedHTTPClient returns a copy of hc (or a new client) whose redirect
// policy never follows a redirect to another origin than base's: net/http would forward
// the body (images, names) there, and custom headers too. No redirect sends
// a Referer, which would leak the query (a customer reference). A client
// without a transport gets the SDK's tuned one rather than net/http's default.
//
// The SDK's own transport dials behind a dialGate, which it returns (nil for
// a transport of the caller's): the client's attempts report to it.
func guardedHTTPClient(hc *http.Client, base *url.URL) (*http.Client, *dialGate) {
	var guarded http.Client
	if hc != nil {
		guarded = *hc
	}
	var gate *dialGate
	if guarded.Transport == nil {
		t := defaultTransport()
		dial := t.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		gate = newDialGate()
		t.DialContext = gate.wrap(dial)
		guarded.Transport = t
	}
	if _, sequential := guarded.Transport.(*http.Transport); !sequential && guarded.Timeout > 0 {
		guarded.Transport = cancelRelay{next: guarded.Transport}
	}
	next := guarded.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		req.Header.Del("Referer")
		if guard, ok := req.Context().Value(guardKey{}).(*sendGuard); ok {
			guard.redirected()
		}
		// The 3xx becomes an *APIError. Another origin would receive the body
		// (images, names); a POST's redirect would be re-sent as a GET whose
		// answer the SDK would read as the receipt of a paid task.
		if !sameOrigin(req.URL, base) || via[0].Method == http.MethodPost {
			return http.ErrUseLastResponse
		}
		// The origin spelt as base is: net/http files connections under
		// the host as written, and one in another case would need a
		// connection of its own, which the dial gate counts as surplus.
		req.URL.Scheme, req.URL.Host = base.Scheme, base.Host
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &guarded, gate
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
