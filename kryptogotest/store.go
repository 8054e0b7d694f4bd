package kryptogotest

import (
	"errors"
	"fmt"
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// store is the fake's memory: plain state with no lock, clock, settings or
// way back to the Server. The Server calls it under its one lock, passing
// the time; an operation that makes callbacks due or creates a task to
// complete returns that as effects, which the Server carries out after
// releasing the lock.
type store struct {
	nextKYA    kryptogo.ID
	nextTask   kryptogo.ID
	nextIDV    kryptogo.ID
	kyaResults map[kryptogo.ID]*kryptogo.KYAResult
	tasks      map[kryptogo.ID]*task
	idv        map[kryptogo.ID]*idvTask
	webTokens  map[string]kryptogo.ID
	sanctioned map[string]bool
	risks      map[string]TaskOutcome
}

func newStore() *store {
	return &store{
		nextKYA: 1, nextTask: 1, nextIDV: 1,
		kyaResults: map[kryptogo.ID]*kryptogo.KYAResult{}, tasks: map[kryptogo.ID]*task{}, idv: map[kryptogo.ID]*idvTask{},
		webTokens: map[string]kryptogo.ID{}, sanctioned: map[string]bool{}, risks: map[string]TaskOutcome{},
	}
}

// effects are what a change of the store asks of the Server once the lock
// is released.
type effects struct {
	callbacks []callback
	newTasks  []kryptogo.ID // DD tasks to complete per the completion mode
	newIDV    []kryptogo.ID // IDV tasks to complete per the completion mode
}

// callback is one callback to POST; payload is a copy the store no longer
// touches.
type callback struct {
	url     string
	kind    kryptogo.CallbackKind
	payload any
}

func (st *store) addSanctioned(addresses []string) {
	for _, a := range addresses {
		st.sanctioned[strings.ToLower(a)] = true
	}
}

// The kinds of the store's refusals. The store knows nothing of HTTP: the
// handlers answer errNotFound as 404, errConflict as 409 and errInvalid as
// 400 (statusOf).
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
	errInvalid  = errors.New("invalid request")
)

// refusal is a refusal of one kind, with the message the API answers.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.kind }

// refuse returns a refusal of the kind with a formatted message.
func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}
