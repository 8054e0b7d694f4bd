package kryptogotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// store is the fake's memory. Its methods are HTTP handlers that return a
// status and a JSON body; the Server's mutex is not used here, the store has
// its own.
type store struct {
	srv *Server
	cfg config

	mu         sync.Mutex
	nextKYA    kryptogo.ID
	nextTask   kryptogo.ID
	nextIDV    kryptogo.ID
	kya        map[kryptogo.ID]*kryptogo.KYAResult
	tasks      map[kryptogo.ID]*task
	idv        map[kryptogo.ID]*idvTask
	webTokens  map[string]kryptogo.ID
	sanctioned map[string]bool
	risks      map[string]TaskOutcome
}

func newStore(srv *Server, cfg config) *store {
	st := &store{
		srv: srv, cfg: cfg, nextKYA: 1, nextTask: 1, nextIDV: 1,
		kya: map[kryptogo.ID]*kryptogo.KYAResult{}, tasks: map[kryptogo.ID]*task{}, idv: map[kryptogo.ID]*idvTask{},
		webTokens: map[string]kryptogo.ID{}, sanctioned: map[string]bool{}, risks: map[string]TaskOutcome{},
	}
	for _, a := range cfg.sanctioned {
		st.sanctioned[strings.ToLower(a)] = true
	}
	return st
}

func (st *store) now() time.Time { return st.cfg.now().UTC().Truncate(time.Second) }

func (st *store) stamp() kryptogo.Timestamp { return kryptogo.Timestamp{Time: st.now()} }

// pathID reads the {id} path parameter.
func pathID(r *http.Request) (kryptogo.ID, bool) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return kryptogo.ID(n), err == nil && n > 0
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not valid JSON: %v", err)
	}
	return nil
}

// missing lists the required fields a request lacks, as the API answers them.
type missing []string

func (m *missing) need(ok bool, field string) {
	if !ok {
		*m = append(*m, field)
	}
}

func (m missing) answer() (int, any) {
	return apiError(http.StatusBadRequest, "invalid request: %s", strings.Join(m, ", "))
}

// schedule finishes something according to the completion mode.
func (st *store) schedule(finish func()) {
	switch st.cfg.completion {
	case CompleteAtOnce:
		finish()
	case CompleteAfterDelay:
		st.srv.after(st.cfg.delay, finish)
	}
}
