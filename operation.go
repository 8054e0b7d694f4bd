package kryptogo

import (
	"context"
	"errors"
	"net/http"
)

// Operation names what a call was made for, as metric-safe labels.
type Operation struct {
	Name   string // the service method, such as "Tasks.Get"; "Do" for Client.Do
	Route  string // such as "/task/{task_id}", never an id; "" for Client.Do
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
// carries ctx, for a Middleware or RoundTripper.
func OperationFromContext(ctx context.Context) (Operation, bool) {
	if g, ok := ctx.Value(guardKey{}).(*sendGuard); ok && g.op != nil {
		return *g.op, true
	}
	return Operation{}, false
}

// ErrorClass is why a call or an attempt failed, fit for a metric label.
type ErrorClass string

// The error classes, in the order ErrorClassOf tries them.
const (
	ErrorClassInvalidRequest  ErrorClass = "invalid_request"  // refused before sending
	ErrorClassPaused          ErrorClass = "paused"           // ended by a 429's pause, unsent
	ErrorClassBudgetExhausted ErrorClass = "budget_exhausted" // not retried: the retry budget is spent
	ErrorClassMaybeSent       ErrorClass = "maybe_sent"       // ErrMaybeSent
	ErrorClassCanceled        ErrorClass = "canceled"         // the caller's context was cancelled
	ErrorClassTimeout         ErrorClass = "timeout"          // the context's or WithTimeout's deadline
	ErrorClassRateLimited     ErrorClass = "rate_limited"     // 429
	ErrorClassServerError     ErrorClass = "server_error"     // 5xx
	ErrorClassClientError     ErrorClass = "client_error"     // another non-2xx
	ErrorClassInvalidResponse ErrorClass = "invalid_response" // ErrInvalidResponse
	ErrorClassNetwork         ErrorClass = "network"          // DNS, refused, reset, TLS
	ErrorClassOther           ErrorClass = "other"            // such as a RateLimiter's error
)

// ErrorClassOf classifies an error the SDK returned; a POST that may have been
// sent is maybe_sent whatever else it is.
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
