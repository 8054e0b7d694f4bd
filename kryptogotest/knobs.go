package kryptogotest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// Callbacks returns every callback sent or being sent, oldest first.
func (s *Server) Callbacks() []Delivery {
	out, _ := s.callbacks.snapshot()
	return out
}

// WaitCallbacks waits until no callback delivery is in flight (each was
// delivered or ran out of attempts), or ctx ends.
func (s *Server) WaitCallbacks(ctx context.Context) error {
	for {
		if _, pending := s.callbacks.snapshot(); pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// FailNext makes the next n requests, on any path, answer status.
//
// The faults injected by FailNext, FailNextOn, FailNextOnRequest,
// FailNextAfterHandling, DropNextRequest and DropNextResponse wait in one
// queue. A request uses
// the first injected of those that name its path (exactly, or by a prefix
// ending in *) and its method (or any method), else the first injected of
// those on any path; each fault serves its n requests, then is gone. An n
// of 0 or less withdraws the faults waiting on exactly that method and path
// (whatever they inject) instead: FailNextOnRequest("POST", "/task", 0, 0)
// cancels what is left of FailNextOnRequest("POST", "/task", 10, 429), and
// FailNext(0, 0) the faults on any path. ClearFaults withdraws them all.
func (s *Server) FailNext(n, status int) { s.FailNextOnRequest("", "", n, status) }

// FailNextOn makes the next n requests to path, whatever their method,
// answer status. A path ending in * matches every path with that prefix
// ("/task/*"). FailNextOnRequest also names the method. The order of
// overlapping faults and n of 0 are as FailNext says.
func (s *Server) FailNextOn(path string, n, status int) { s.FailNextOnRequest("", path, n, status) }

// FailNextOnRequest makes the next n requests with the given method and
// path answer status: FailNextOnRequest("POST", "/task", 1, 503) fails a
// task creation and no confirmation GET. An empty method or path matches
// any; a path ending in * matches every path with that prefix. A 429 or 503
// carries Retry-After: 0, and every answer a request id, as the API's do.
// The order of overlapping faults and n of 0 are as FailNext says.
func (s *Server) FailNextOnRequest(method, path string, n, status int) {
	s.addFailure(failure{method: method, path: path, left: n, fault: Fault{Status: status}})
}

// FailNextAfterHandling makes the next n requests with the given method
// and path act (FailNextAfterHandling("POST", "/task", 1, 500) creates the
// tasks) and then answer status instead of their answer, as a server that
// fails after the API acted: the SDK sees a 5xx to a POST as maybe sent
// (kryptogo.ErrMaybeSent). Method and path match as in FailNextOnRequest.
func (s *Server) FailNextAfterHandling(method, path string, n, status int) {
	s.addFailure(failure{method: method, path: path, left: n, fault: Fault{Status: status, AfterHandling: true}})
}

// SetFaultFunc makes the fake ask decide what to do with each request that
// neither the rate limit nor an injected fault (FailNext and the other
// knobs) took: the Fault it returns is injected (the zero Fault answers as
// usual), and shows in the request's Request.Fault. decide runs under the
// fake's lock, one request at a time: it must not call the Server. A nil
// decide removes it.
//
//	srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
//		if r.Method == "POST" && rng.IntN(5) == 0 {
//			return kryptogotest.Fault{Status: 500, AfterHandling: true}
//		}
//		return kryptogotest.Fault{}
//	})
func (s *Server) SetFaultFunc(decide func(Request) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decideFault = decide
}

// DropNextRequest makes the next n requests with the given method and path
// lose their connection before the fake handles them: it closes the
// connection without answering, and nothing changes (no task is created).
// Method and path match as in FailNextOnRequest. The SDK sees a POST dropped
// this way as maybe sent (kryptogo.ErrMaybeSent), as it would a real one.
func (s *Server) DropNextRequest(method, path string, n int) {
	s.addFailure(failure{method: method, path: path, left: n, fault: Fault{Drop: true}})
}

// DropNextResponse makes the next n requests with the given method and path
// lose their answer: the fake handles them (DropNextResponse("POST",
// "/task", 1) creates the tasks), then closes the connection without
// answering, as when a network fails after the API acted. Method and path
// match as in FailNextOnRequest.
func (s *Server) DropNextResponse(method, path string, n int) {
	s.addFailure(failure{method: method, path: path, left: n, fault: Fault{Drop: true, AfterHandling: true}})
}

func (s *Server) addFailure(f failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures.add(f)
}

// ClearFaults withdraws every injected fault not used up yet: a test that
// injected more than it used leaves nothing for the next.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

// SetRateLimit sets the rate limit of WithRateLimit, counting from now;
// n of 0 or less turns it off.
func (s *Server) SetRateLimit(n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = rateWindow{n: n, per: per}
}

// SetLatency delays every later answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetHistoryLag makes a task created from now on show in GET /tasks only d
// after its creation, as WithHistoryLag does. Clients made by Client before
// the call keep the reconciliation wait they were made with.
func (s *Server) SetHistoryLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.historyLag = d
}

// SetRFC3339InitTimestamp switches the timestamp form of POST /idv/init.
func (s *Server) SetRFC3339InitTimestamp(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rfc3339 = on
}

// IDVOutcome is the result an IDV task completes with.
type IDVOutcome struct {
	State         kryptogo.IDVState // IDVAccept, IDVReview or IDVReject
	ReviewReasons []kryptogo.Reason
	RejectReasons []kryptogo.Reason
}

// CompleteIDV finishes a pending or initial IDV task with the given outcome,
// creates its DD task when asked to and the outcome is accept, and sends
// its callback. It fails for an unknown or already finished task.
func (s *Server) CompleteIDV(id kryptogo.ID, outcome IDVOutcome) error {
	if !outcome.State.Done() {
		return fmt.Errorf("kryptogotest: %s is not a final IDV state", outcome.State)
	}
	return s.complete(func(st *store, now kryptogo.Timestamp) (effects, error) {
		return st.finishIDV(id, outcome, now)
	})
}

// IDVTask returns a copy of an IDV task as the fake holds it.
func (s *Server) IDVTask(id kryptogo.ID) (*kryptogo.IDVTask, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.state.idv[id]
	if !ok {
		return nil, false
	}
	t := v.shown()
	return &t, true
}

// Tasks returns a copy of every DD task created so far, oldest first, so a
// test finds the tasks the code under test created (by its customer
// reference, say) without guessing ids.
func (s *Server) Tasks() []kryptogo.TaskDetail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return oldestFirst(s.state.tasks, (*task).shown)
}

// KYAResults returns a copy of every KYA result created so far, oldest
// first: one per screening the fake received.
func (s *Server) KYAResults() []kryptogo.KYAResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return oldestFirst(s.state.kyaResults, func(r *kryptogo.KYAResult) kryptogo.KYAResult { return *r })
}

// IDVTasks returns a copy of every IDV task created so far, oldest first,
// so a test finds the tasks the code under test created (by its customer
// reference, say) without guessing ids.
func (s *Server) IDVTasks() []kryptogo.IDVTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	return oldestFirst(s.state.idv, (*idvTask).shown)
}

// oldestFirst returns what show makes of each record, in the order of their
// ids, which the store hands out in order of creation.
func oldestFirst[R any, V any](records map[kryptogo.ID]R, show func(R) V) []V {
	ids := slices.Sorted(maps.Keys(records))
	out := make([]V, len(ids))
	for i, id := range ids {
		out[i] = show(records[id])
	}
	return out
}

// SetSanctionedAddresses adds addresses that KYA reports as sanctions-list
// matches (compared case-insensitively), like WithSanctionedAddresses.
func (s *Server) SetSanctionedAddresses(addresses ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.addSanctioned(addresses)
}

// SetSanctioned adds addresses that KYA reports as sanctions-list matches.
//
// Deprecated: use SetSanctionedAddresses, the pair of WithSanctionedAddresses.
func (s *Server) SetSanctioned(addresses ...string) { s.SetSanctionedAddresses(addresses...) }

// TaskOutcome is the result a DD task completes with.
type TaskOutcome struct {
	PotentialRisk   int // 0-100
	SanctionMatched bool
}

// SetTargetRisk sets the outcome of tasks on the named target that complete
// on their own; other targets complete with risk 0 and no sanction match.
func (s *Server) SetTargetRisk(targetName string, outcome TaskOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.risks[targetName] = outcome
}

// CompleteTask finishes a pending DD task with the given outcome and sends
// its callback. It fails for an unknown or already completed task.
func (s *Server) CompleteTask(id kryptogo.ID, outcome TaskOutcome) error {
	return s.complete(func(st *store, now kryptogo.Timestamp) (effects, error) {
		return st.finishTask(id, outcome, now)
	})
}

// Task returns a copy of a DD task as the fake holds it.
func (s *Server) Task(id kryptogo.ID) (*kryptogo.TaskDetail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.state.tasks[id]
	if !ok {
		return nil, false
	}
	d := t.shown()
	return &d, true
}
