package kryptogo

import (
	"errors"
	"net/http"
)

// MiddlewareNext sends the request on: to the next Middleware, or to the
// client's http.Client.
type MiddlewareNext func(req *http.Request) (*http.Response, error)

// Middleware wraps the round trip of each attempt: below the SDK's retries
// (it sees each attempt, not each call) and above the client's
// http.Client. req.Context() carries the attempt's Operation
// (OperationFromContext). It may read and add headers, or fail the
// attempt; it must pass on req or a request whose context is derived from
// req.Context() (req.Clone, req.WithContext): that context carries what
// the SDK's send guard watches the request through. With another context,
// the SDK cannot tell whether a POST was sent: every failure of that POST
// matches ErrMaybeSent and is not retried, and the client logs a warning.
// A middleware must not send a request twice; if it does, the send guard
// stops the POST's second copy before it writes a byte.
type Middleware func(req *http.Request, next MiddlewareNext) (*http.Response, error)

// WithMiddleware wraps each attempt's round trip in mw, the first
// outermost. Given to a call, mw wrap it inside the client's middlewares.
func WithMiddleware(mw ...Middleware) Option {
	return func(s *settings) error {
		for _, m := range mw {
			if m == nil {
				return errors.New("kryptogo: WithMiddleware: nil Middleware")
			}
		}
		s.middleware = append(s.middleware[:len(s.middleware):len(s.middleware)], mw...)
		return nil
	}
}

// roundTrip sends req through the middlewares mw and the client's
// http.Client. A middleware's answer without a body gets an empty one,
// and one with neither answer nor error is an error, not a panic.
func (c *Client) roundTrip(mw []Middleware, req *http.Request) (*http.Response, error) {
	if len(mw) == 0 {
		return c.httpClient.Do(req)
	}
	resp, err := mw[0](req, func(r *http.Request) (*http.Response, error) { return c.roundTrip(mw[1:], r) })
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	case resp == nil:
		return nil, errNoResponse
	case resp.Body == nil:
		resp.Body = http.NoBody
	}
	return resp, nil
}

var errNoResponse = errors.New("a Middleware returned neither a response nor an error")
