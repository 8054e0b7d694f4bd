package kryptogo

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/redact"
)

// callMask masks what one call must never let out: the API key and the
// personal values of its request. Its scrubber is built when first needed
// and then kept for the rest of the call: building one spells each secret
// some forty ways (escapes, base64 runs, dates), and a failed attempt
// needs it for its log record, its ResponseInfo and its error. A call
// without personal values shares the client's masker of the key, which
// its credentials hold behind a func, as they hold the key: no printing of
// the Client can meet it.
type callMask struct {
	c        *Client
	personal []string
	built    scrubber
}

// maskFor returns the mask of a call that sends body with the
// configuration cfg.
func (c *Client) maskFor(body *requestBody, cfg *callConfig) *callMask {
	return &callMask{c: c, personal: slices.Concat(body.personalValues(), cfg.personal)}
}

// withPersonal makes a call mask values as personal values of its request:
// a call the SDK makes on its own as part of another (CreateOnce's lookup
// in the history) carries none itself, but its answer comes from the
// server that was just sent them, and its errors are the other call's.
func withPersonal(values []string) Option {
	return func(s *settings) error {
		s.personal = slices.Concat(s.personal, values)
		return nil
	}
}

// scrubber returns the call's scrubber, building it on first use.
func (m *callMask) scrubber() scrubber {
	if m.built.m == nil {
		m.built = m.c.scrubber(m.personal)
	}
	return m.built
}

// reach is the reach of the call's scrubber, found from the lengths of the
// secrets without building it: the reach of the longest one masked.
func (m *callMask) reach() int {
	longest := len(m.c.creds.key())
	for _, v := range m.personal {
		if maskable(v) {
			longest = max(longest, len(strings.TrimSpace(v))) // the matcher masks values trimmed
		}
	}
	return redact.Reach(longest)
}

// maskable reports whether a personal value is long enough to be masked
// (minPersonalLen).
func maskable(v string) bool { return len(strings.TrimSpace(v)) >= minPersonalLen }

// maxMaskedHeaders bounds the header text ResponseInfo masks per answer,
// as maxErrorBody bounds the body an APIError keeps. Each value costs its
// length and headerCost, so that many short values are bounded too.
const (
	maxMaskedHeaders = 64 << 10
	headerCost       = 64
)

// withheldHeader stands for a header value past maxMaskedHeaders.
const withheldHeader = "[withheld: the answer's headers exceed 64 KiB]"

// shortestHeadersFirst returns the names of h, the shortest values first
// (then by name): the headers a caller reads (Retry-After, a request id)
// are short, and are masked before the budget runs out.
func shortestHeadersFirst(h http.Header) []string {
	size := func(name string) int {
		n := 0
		for _, v := range h[name] {
			n += len(v) + headerCost
		}
		return n
	}
	names := slices.Collect(maps.Keys(h))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(size(a), size(b)), strings.Compare(a, b)) })
	return names
}
