package kryptogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// call sends a request and decodes the answer into a new T: the last step
// of every service method (validate, encode, send). opts are the call's
// options, applied over the client's.
func call[T any](ctx context.Context, c *Client, op *Operation, path string, query url.Values, body *requestBody, opts []Option) (*T, error) {
	cfg, err := c.config(opts)
	if err != nil {
		return nil, c.refuse(ctx, op, nil, err)
	}
	var out T
	if err := c.send(ctx, cfg, op, path, query, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// sendJSON encodes in as the JSON body of a request of op and decodes the
// answer into a new T. in names the personal values it carries, which the
// call masks in its errors and logs. path is op's route with its ids.
func sendJSON[T any](ctx context.Context, c *Client, op *Operation, path string, in personalData, opts []Option) (*T, error) {
	body, err := encodeBody(in)
	if err != nil {
		return nil, c.refuse(ctx, op, opts, err)
	}
	return call[T](ctx, c, op, path, nil, body, opts)
}

// getByID fetches the T at op's route, a path as the API reference writes
// it with one id parameter ("/task/{task_id}/summary"): the one body of
// every get-by-id method. The parameter's name names the id in a
// validation error.
func getByID[T any](ctx context.Context, c *Client, op *Operation, id ID, opts []Option) (*T, error) {
	pattern := op.Route
	start, end := strings.IndexByte(pattern, '{'), strings.IndexByte(pattern, '}')
	if err := validateID(pattern[start+1:end], id); err != nil {
		return nil, c.refuse(ctx, op, opts, err)
	}
	var buf [64]byte // the path is built in one allocation
	path := append(strconv.AppendInt(append(buf[:0], pattern[:start]...), int64(id), 10), pattern[end+1:]...)
	return call[T](ctx, c, op, string(path), nil, nil, opts)
}

// requestBody is a replayable request body: open is called once per
// attempt. personal lists the personal values it carries (names,
// birthdays, ID numbers), which no error or log record may echo.
type requestBody struct {
	open     func() io.ReadCloser
	length   int64
	personal []string
}

// personalValues returns the personal values of the body, if any.
func (b *requestBody) personalValues() []string {
	if b == nil {
		return nil
	}
	return b.personal
}

func bytesBody(b []byte) *requestBody {
	return &requestBody{
		open:   func() io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) },
		length: int64(len(b)),
	}
}

// jsonBody encodes a body given to Do. A request type of the SDK names its
// personal values; for any other value (a map, a caller's struct) they are
// found in its JSON.
func jsonBody(v any) (*requestBody, error) {
	if in, ok := v.(personalData); ok {
		return encodeBody(in)
	}
	b, err := marshalBody(v)
	if err != nil {
		return nil, err
	}
	return rawBody(b), nil
}

// encodeBody encodes in as a JSON request body carrying the personal values
// in names: a request of the SDK knows them, so its body is not read back
// to find them.
func encodeBody(in personalData) (*requestBody, error) {
	b, err := marshalBody(in)
	if err != nil {
		return nil, err
	}
	body := bytesBody(b)
	body.personal = in.personalValues()
	return body, nil
}

func marshalBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: encode request: %w", err)
	}
	return b, nil
}

// newRequest builds the request of one attempt. Its URL is target itself,
// built once per call, not parsed again from text: the request is the one
// http.NewRequestWithContext would build for it (a method of the SDK's,
// which is valid, and no body), without parsing the empty URL that
// NewRequestWithContext would take (an allocation and a parse per attempt).
func (c *Client) newRequest(ctx context.Context, userAgent, method string, target *url.URL, body *requestBody) (*http.Request, error) {
	if ctx == nil {
		return nil, errors.New("kryptogo: build request: nil context")
	}
	req := (&http.Request{
		Method:     method,
		URL:        target,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, 4),
		Host:       strings.TrimSuffix(target.Host, ":"),
	}).WithContext(ctx)
	values := make([]string, 4) // one allocation for the header values
	header := func(name, value string) {
		values[0] = value
		req.Header[name], values = values[:1:1], values[1:]
	}
	if body != nil {
		req.Body = body.open()
		req.ContentLength = body.length
		if body.length == 0 {
			req.Body = http.NoBody
		}
		// With GetBody, net/http re-sends the body by itself: the HTTP/2
		// transport after a reset stream, redirects on 307/308. A POST may
		// create a paid task, so only idempotent methods get it; the SDK
		// replays a POST itself, and only when nothing was written.
		if idempotent(method) {
			req.GetBody = func() (io.ReadCloser, error) { return body.open(), nil }
		}
		header("Content-Type", "application/json")
	}
	header("Accept", "application/json")
	header("User-Agent", userAgent)
	header(c.creds.canonical, c.creds.key())
	return req, nil
}

// rawBody is a body given as bytes (Do with json.RawMessage or []byte),
// with the personal values its JSON holds.
func rawBody(b []byte) *requestBody {
	body := bytesBody(b)
	body.personal = personalValuesInJSON(b)
	return body
}
