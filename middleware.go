package kryptogo

import (
	"errors"
	"net/http"
)

// MiddlewareNext sends the request on.
type MiddlewareNext func(req *http.Request) (*http.Response, error)

// Middleware wraps the round trip of each attempt, below the SDK's retries. It
// must pass on req or a request whose context derives from req.Context(), or
// every failed POST is ErrMaybeSent (README: "Your own transport").
type Middleware func(req *http.Request, next MiddlewareNext) (*http.Response, error)

// WithMiddleware wraps each attempt's round trip in mw, the first outermost.
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
