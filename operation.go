package kryptogo

import (
	"context"
	"errors"
	"net/http"
)

// Operation names what a call was made for: the SDK method and the
// endpoint, as labels with a bounded set of values.
type Operation struct {
	// Name is the service method, such as "Tasks.Get"; "Do" for Client.Do.
	Name string
	// Route is the path as the API reference writes it, such as
	// "/task/{task_id}": never an id, so it can label a metric. Client.Do
	// leaves it "": the SDK cannot tell which parts of a raw path are ids.
	Route string
	// Method is the HTTP method.
	Method string
}

// The operations of the service methods: one name per method a caller
// can call, with the endpoint it sends to.
var (
	opKYACreate   = Operation{"KYA.Create", "/kya", http.MethodPost}
	opKYAScreen   = Operation{"KYA.Screen", "/kya", http.MethodPost}
	opKYAGet      = Operation{"KYA.Get", "/kya/detail/{kya_id}", http.MethodGet}
	opTasksCreate = Operation{"Tasks.Create", "/task", http.MethodPost}
	opTasksOne    = Operation{"Tasks.CreateOne", "/task", http.MethodPost}
	opTasksOnce   = Operation{"Tasks.CreateOnce", "/task", http.MethodPost}
	opTasksSum    = Operation{"Tasks.Summary", "/task/{task_id}/summary", http.MethodGet}
	opTasksGet    = Operation{"Tasks.Get", "/task/{task_id}", http.MethodGet}
	opTasksAccept = Operation{"Tasks.SetAccepted", "/task/{task_id}/accepted", http.MethodPost}
	opTasksMeta   = Operation{"Tasks.SetMetadata", "/task/{task_id}/metadata", http.MethodPut}
	opTasksList   = Operation{"Tasks.History", "/tasks", http.MethodGet}
	opIDVCreate   = Operation{"IDV.Create", "/idv", http.MethodPost}
	opIDVGet      = Operation{"IDV.Get", "/idv/{idv_id}", http.MethodGet}
	opIDVWeb      = Operation{"IDV.InitWeb", "/idv/init", http.MethodPost}
	opIDVMobile   = Operation{"IDV.InitMobile", "/idv/account", http.MethodPost}
)

// doOperations are the operations of Client.Do for the common methods,
// so that they cost no allocation.
var doOperations = func() map[string]*Operation {
	ops := map[string]*Operation{}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		ops[m] = &Operation{Name: "Do", Method: m}
	}
	return ops
}()

// doOperation returns the operation of a Client.Do call with method.
func doOperation(method string) *Operation {
	if op, ok := doOperations[method]; ok {
		return op
	}
	return &Operation{Name: "Do", Method: method}
}

// OperationFromContext returns the operation of the attempt whose request
// carries ctx: a Middleware, or a RoundTripper below the SDK
// (WithHTTPClient), reads it from req.Context() to name its span or label
// its metric by Operation.Route rather than by a path holding ids.
func OperationFromContext(ctx context.Context) (Operation, bool) {
	if g, ok := ctx.Value(guardKey{}).(*sendGuard); ok && g.op != nil {
		return *g.op, true
	}
	return Operation{}, false
}

// ErrorClass is why a call or an attempt failed, from a small closed set
// fit for a metric label; "" means it succeeded.
type ErrorClass string

// The error classes, in the order ErrorClassOf tries them.
const (
	// ErrorClassInvalidRequest: refused before sending (ErrInvalidRequest).
	ErrorClassInvalidRequest ErrorClass = "invalid_request"
	// ErrorClassPaused: ended by the client-wide 429 pause, unsent.
	ErrorClassPaused ErrorClass = "paused"
	// ErrorClassBudgetExhausted: not retried, the retry budget is spent.
	ErrorClassBudgetExhausted ErrorClass = "budget_exhausted"
	// ErrorClassMaybeSent: a POST that may have reached the API (ErrMaybeSent).
	ErrorClassMaybeSent ErrorClass = "maybe_sent"
	// ErrorClassCanceled: the caller's context was cancelled.
	ErrorClassCanceled ErrorClass = "canceled"
	// ErrorClassTimeout: a deadline passed (the context's, or WithTimeout's).
	ErrorClassTimeout ErrorClass = "timeout"
	// ErrorClassRateLimited: the API answered 429.
	ErrorClassRateLimited ErrorClass = "rate_limited"
	// ErrorClassServerError: the API answered 5xx.
	ErrorClassServerError ErrorClass = "server_error"
	// ErrorClassClientError: the API answered another non-2xx status.
	ErrorClassClientError ErrorClass = "client_error"
	// ErrorClassInvalidResponse: a 2xx answer that is not the documented JSON.
	ErrorClassInvalidResponse ErrorClass = "invalid_response"
	// ErrorClassNetwork: the connection failed (DNS, refused, reset, TLS).
	ErrorClassNetwork ErrorClass = "network"
	// ErrorClassOther: anything else, such as a RateLimiter's own error.
	ErrorClassOther ErrorClass = "other"
)

// ErrorClassOf classifies an error the SDK returned; "" for nil. A POST
// that may have been sent is maybe_sent whatever else it is (a 5xx, a
// timeout after writing): that is what its caller must act on.
func ErrorClassOf(err error) ErrorClass {
	if err == nil {
		return ""
	}
	return errorClassOf(err)
}

// errorClassOf is ErrorClassOf for an error.
func errorClassOf(err error) ErrorClass {
	var (
		pause    *pauseError
		apiErr   *APIError
		redacted *redactedError
	)
	switch {
	case errors.Is(err, ErrInvalidRequest):
		return ErrorClassInvalidRequest
	case errors.As(err, &pause):
		return ErrorClassPaused
	case errors.Is(err, ErrRetryBudgetExhausted):
		return ErrorClassBudgetExhausted
	case errors.Is(err, ErrMaybeSent):
		return ErrorClassMaybeSent
	case errors.Is(err, context.Canceled):
		return ErrorClassCanceled
	case isTimeout(err): // before APIError: a deadline that ended a retry wait
		return ErrorClassTimeout
	case errors.As(err, &apiErr):
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			return ErrorClassRateLimited
		case apiErr.StatusCode >= 500:
			return ErrorClassServerError
		}
		return ErrorClassClientError
	case errors.Is(err, ErrInvalidResponse):
		return ErrorClassInvalidResponse
	case errors.As(err, &redacted): // a transport failure (attemptError)
		return ErrorClassNetwork
	}
	return ErrorClassOther
}
