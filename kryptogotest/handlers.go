package kryptogotest

import (
	"fmt"
	"html"
	"net/http"
	"strconv"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// An endpoint reads its request, refuses what the API refuses (validate.go)
// and asks the store; it answers the store's data, or an error that
// authenticated turns into a status.
type endpoint func(*http.Request) (any, error)

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h endpoint) { mux.Handle(pattern, s.authenticated(h)) }
	api("POST /kya", s.createKYA)
	api("GET /kya/detail/{id}", s.getKYA)
	api("POST /task", s.createTasks)
	api("GET /task/{id}/summary", s.taskSummary)
	api("GET /task/{id}", s.taskDetail)
	api("POST /task/{id}/accepted", s.setAccepted)
	api("PUT /task/{id}/metadata", s.setMetadata)
	api("GET /tasks", s.history)
	api("POST /idv", s.createIDV)
	api("GET /idv/{id}", s.getIDV)
	api("POST /idv/init", s.initWeb)
	api("POST /idv/account", s.initMobile)
	mux.HandleFunc("GET /idv/web/{token}", s.openWebSession) // the end user's browser: no key
	api("/", func(*http.Request) (any, error) { return nil, refuse(errNotFound, "no such endpoint") })
	return s.front(mux)
}

func (s *Server) createKYA(r *http.Request) (any, error) {
	var req struct {
		Address string `json:"address"`
		Chain   string `json:"chain"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	chain, err := checkKYA(req.Address, req.Chain)
	if err != nil {
		return nil, err
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		return kyaWire{st.addKYA(req.Address, chain, now)}, effects{}, nil
	})
}

func (s *Server) getKYA(r *http.Request) (any, error) {
	return s.view(func(st *store) (any, error) {
		res, err := st.kya(pathID(r))
		if err != nil {
			return nil, err
		}
		return kyaWire{res}, nil
	})
}

func (s *Server) createTasks(r *http.Request) (any, error) {
	var wire []wireTask
	if err := decode(r, &wire); err != nil {
		return nil, err
	}
	var m missing
	m.need(len(wire) > 0, "tasks")
	for i := range wire {
		wire[i].check("["+strconv.Itoa(i)+"].", &m)
	}
	if err := m.err(); err != nil {
		return nil, err
	}
	reqs := make([]kryptogo.CreateTaskRequest, len(wire))
	for i, w := range wire {
		reqs[i] = w.request()
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		ids, fx, err := st.createTasks(reqs, now)
		if err != nil {
			return nil, effects{}, err
		}
		if s.historyLag > 0 { // guarded by s.mu, which change holds
			listed := s.cfg.now().Add(s.historyLag)
			for _, id := range ids {
				st.tasks[id].listedFrom = listed
			}
		}
		receipts := make([]taskReceipt, len(ids))
		for i, id := range ids {
			receipts[i] = taskReceipt{TaskID: id, Timestamp: now}
		}
		return receipts, fx, nil
	})
}

func (s *Server) taskSummary(r *http.Request) (any, error) {
	return s.view(func(st *store) (any, error) {
		t, err := st.task(pathID(r))
		if err != nil {
			return nil, err
		}
		return t.summary(), nil
	})
}

func (s *Server) taskDetail(r *http.Request) (any, error) {
	return s.view(func(st *store) (any, error) {
		t, err := st.task(pathID(r))
		if err != nil {
			return nil, err
		}
		return detailWire{detail: t.shown(), commented: len(t.commentLogs) > 0}, nil
	})
}

func (s *Server) setAccepted(r *http.Request) (any, error) {
	var req struct {
		Comment  *string `json:"comment"`
		Accepted *bool   `json:"accepted"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var m missing
	m.need(req.Comment != nil, "comment")
	m.need(req.Accepted != nil, "accepted")
	if err := m.err(); err != nil {
		return nil, err
	}
	id := pathID(r)
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		fx, err := st.decide(id, *req.Comment, *req.Accepted, now)
		answer := map[string]any{"task_id": id, "comment": *req.Comment, "accepted": *req.Accepted}
		return answer, fx, err
	})
}

func (s *Server) setMetadata(r *http.Request) (any, error) {
	var pairs []kryptogo.Metadata
	if err := decode(r, &pairs); err != nil {
		return nil, err
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		return map[string]int{"code": 0}, effects{}, st.appendMetadata(pathID(r), pairs, now)
	})
}

func (s *Server) history(r *http.Request) (any, error) {
	q := r.URL.Query()
	size, sizeErr := strconv.Atoi(q.Get("page_size"))
	page, pageErr := strconv.Atoi(q.Get("page_number"))
	var m missing
	m.need(sizeErr == nil && size > 0, "page_size")
	m.need(pageErr == nil && page > 0, "page_number")
	if err := m.err(); err != nil {
		return nil, err
	}
	return s.view(func(st *store) (any, error) {
		data, total := st.history(q.Get("customer_reference"), page, size, s.cfg.now())
		return map[string]any{
			"data":   data,
			"paging": map[string]any{"page_number": page, "page_size": size, "total": total, InventedKey: true},
		}, nil
	})
}

// decodeIDV reads an IDV request and refuses what it lacks; check adds the
// endpoint's own rules to the common ones.
func decodeIDV(r *http.Request, check func(*wireIDV, *missing)) (*wireIDV, error) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var m missing
	req.checkCommon(&m)
	check(&req, &m)
	if err := m.err(); err != nil {
		return nil, err
	}
	return &req, nil
}

func (s *Server) createIDV(r *http.Request) (any, error) {
	req, err := decodeIDV(r, (*wireIDV).checkUpload)
	if err != nil {
		return nil, err
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		id := st.addIDV(req.spec(req.IDType), kryptogo.IDVPending)
		return map[string]any{"idv_task_id": id, "timestamp": now}, effects{newIDV: []kryptogo.ID{id}}, nil
	})
}

func (s *Server) getIDV(r *http.Request) (any, error) {
	return s.view(func(st *store) (any, error) {
		v, err := st.idvTask(pathID(r))
		if err != nil {
			return nil, err
		}
		return v.shown(), nil
	})
}

func (s *Server) initWeb(r *http.Request) (any, error) {
	req, err := decodeIDV(r, (*wireIDV).checkWeb)
	if err != nil {
		return nil, err
	}
	token := newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		id := st.addWebSession(req.spec(req.IDType), token)
		answer := map[string]any{"idv_task_id": id, "url": s.URL + "/idv/web/" + token, "timestamp": now}
		if s.rfc3339 { // guarded by s.mu, which change holds
			answer["timestamp"] = now.Format("2006-01-02T15:04:05Z07:00")
		}
		return answer, effects{}, nil // completes when the URL is opened
	})
}

func (s *Server) initMobile(r *http.Request) (any, error) {
	req, err := decodeIDV(r, (*wireIDV).checkMobile)
	if err != nil {
		return nil, err
	}
	sdkToken := "kryptogotest-sdk-token-" + newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (any, effects, error) {
		// The mobile SDK's upload has no stand-in: the task starts pending.
		id := st.addIDV(req.spec(string(kryptogo.IDTypeIDCard)), kryptogo.IDVPending)
		answer := map[string]any{"idv_task_id": id, "sdk_token": sdkToken, "timestamp": now}
		return answer, effects{newIDV: []kryptogo.ID{id}}, nil
	})
}

// openWebSession stands in for the customer's upload on the web page: the
// task moves from initial to pending and completes per the completion mode.
// A link works once.
func (s *Server) openWebSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	id, successURL, err := s.state.openWebSession(r.PathValue("token"))
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	s.carryOut(effects{newIDV: []kryptogo.ID{id}})
	if successURL != "" {
		http.Redirect(w, r, successURL, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Verification submitted</title><p>IDV task %s: documents submitted (kryptogotest).</p>",
		html.EscapeString(id.String()))
}
