package kryptogotest

import (
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
)

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(*http.Request) (int, any)) {
		mux.Handle(pattern, s.authenticated(h))
	}
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
	mux.Handle("/", s.authenticated(func(*http.Request) (int, any) { return apiError(http.StatusNotFound, "no such endpoint") }))
	return s.front(mux)
}

// decodeIDV reads an IDV request and lists what it lacks; check adds the
// endpoint's own rules to the common ones.
func decodeIDV(r *http.Request, check func(*wireIDV, *missing)) (*wireIDV, int, any) {
	var req wireIDV
	if err := decode(r, &req); err != nil {
		status, body := apiError(http.StatusBadRequest, "%v", err)
		return nil, status, body
	}
	var m missing
	req.checkCommon(&m)
	check(&req, &m)
	if len(m) > 0 {
		status, body := m.answer()
		return nil, status, body
	}
	return &req, 0, nil
}

func (s *Server) createIDV(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(knownIDType(req.IDType), "id_type")
		m.need(req.IDImage != "", "id_image")
		m.need(req.IDType != string(kryptogo.IDTypeIDCard) || req.IDBackImage != "", "id_back_image")
		m.need(req.FaceImage != "" || req.IDAndFaceImage != "", "face_image")
	})
	if req == nil {
		return status, body
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		id := st.addIDV(req, req.IDType, kryptogo.IDVPending)
		return http.StatusOK, map[string]any{"idv_task_id": id, "timestamp": now}, effects{newIDV: []kryptogo.ID{id}}
	})
}

func (s *Server) getIDV(r *http.Request) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		v, ok := st.idv[id]
		if !ok {
			return apiError(http.StatusNotFound, "IDV task %s not found", r.PathValue("id"))
		}
		return http.StatusOK, v.shown()
	})
}

func (s *Server) initWeb(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(knownIDType(req.IDType), "id_type")
		m.need(req.WorkflowID != nil && slices.Contains(webWorkflows, kryptogo.Workflow(*req.WorkflowID)), "workflow_id")
		m.need(req.CustomerReference != "", "customer_reference")
	})
	if req == nil {
		return status, body
	}
	token := newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		id := st.addIDV(req, req.IDType, kryptogo.IDVInitial)
		st.webTokens[token] = id
		answer := map[string]any{"idv_task_id": id, "url": s.URL + "/idv/web/" + token, "timestamp": now}
		if s.rfc3339 { // guarded by s.mu, which change holds
			answer["timestamp"] = now.Format("2006-01-02T15:04:05Z07:00")
		}
		return http.StatusOK, answer, effects{} // completes when the URL is opened
	})
}

func (s *Server) initMobile(r *http.Request) (int, any) {
	req, status, body := decodeIDV(r, func(req *wireIDV, m *missing) {
		m.need(req.WorkflowID != nil && kryptogo.Workflow(*req.WorkflowID) == kryptogo.WorkflowMobile, "workflow_id")
	})
	if req == nil {
		return status, body
	}
	sdkToken := "kryptogotest-sdk-token-" + newToken()
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		// The mobile SDK's upload has no stand-in: the task starts pending.
		id := st.addIDV(req, string(kryptogo.IDTypeIDCard), kryptogo.IDVPending)
		answer := map[string]any{"idv_task_id": id, "sdk_token": sdkToken, "timestamp": now}
		return http.StatusOK, answer, effects{newIDV: []kryptogo.ID{id}}
	})
}

// openWebSession stands in for the customer's upload on the web page: the
// task moves from initial to pending and completes per the completion mode.
// A link works once.
func (s *Server) openWebSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	id, successURL, ok := s.state.openWebSession(r.PathValue("token"))
	s.mu.Unlock()
	if !ok {
		http.Error(w, "this verification link is unknown or was already used", http.StatusNotFound)
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

func (s *Server) createKYA(r *http.Request) (int, any) {
	var req struct {
		Address string `json:"address"`
		Chain   string `json:"chain"`
	}
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if strings.TrimSpace(req.Address) == "" {
		return missing{"address"}.answer()
	}
	chain := strings.ToLower(req.Chain)
	if chain == "" {
		detected, ok := kryptogo.DetectChain(req.Address)
		if !ok {
			return apiError(http.StatusBadRequest, "cannot detect the chain of the address")
		}
		chain = string(detected)
	}
	if chain != string(kryptogo.ChainETH) && chain != string(kryptogo.ChainBTC) {
		return apiError(http.StatusBadRequest, "chain %q is not supported (btc, eth)", req.Chain)
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		res := st.kyaResult(req.Address, chain, now)
		st.kya[res.KYAID] = res
		return http.StatusOK, kyaWire{res}, effects{}
	})
}

func (s *Server) getKYA(r *http.Request) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		res, ok := st.kya[id]
		if !ok {
			return apiError(http.StatusNotFound, "KYA task %s not found", r.PathValue("id"))
		}
		return http.StatusOK, kyaWire{res}
	})
}

func (s *Server) createTasks(r *http.Request) (int, any) {
	var reqs []wireTask
	if err := decode(r, &reqs); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	m.need(len(reqs) > 0, "tasks")
	for i := range reqs {
		reqs[i].check("["+strconv.Itoa(i)+"].", &m)
	}
	if len(m) > 0 {
		return m.answer()
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		return st.createTasks(reqs, now)
	})
}

func taskNotFound(r *http.Request) (int, any) {
	return apiError(http.StatusNotFound, "task %s not found", r.PathValue("id"))
}

func (s *Server) taskSummary(r *http.Request) (int, any) {
	return s.viewTask(r, func(t *task) any { return t.summary() })
}

func (s *Server) taskDetail(r *http.Request) (int, any) {
	return s.viewTask(r, func(t *task) any { return detailWire{detail: t.shown(), commented: len(t.commentLogs) > 0} })
}

// viewTask answers what show makes of the task of the {id} path parameter,
// or 404.
func (s *Server) viewTask(r *http.Request, show func(*task) any) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		t, ok := st.tasks[id]
		if !ok {
			return taskNotFound(r)
		}
		return http.StatusOK, show(t)
	})
}

// changeTask runs op on the task of the {id} path parameter as a change,
// or answers 404.
func (s *Server) changeTask(r *http.Request, op func(t *task, now kryptogo.Timestamp) (int, any, effects)) (int, any) {
	id, _ := pathID(r)
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		t, ok := st.tasks[id]
		if !ok {
			status, body := taskNotFound(r)
			return status, body, effects{}
		}
		return op(t, now)
	})
}

func (s *Server) setAccepted(r *http.Request) (int, any) {
	var req struct {
		Comment  *string `json:"comment"`
		Accepted *bool   `json:"accepted"`
	}
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	var m missing
	m.need(req.Comment != nil, "comment")
	m.need(req.Accepted != nil, "accepted")
	if len(m) > 0 {
		return m.answer()
	}
	return s.changeTask(r, func(t *task, now kryptogo.Timestamp) (int, any, effects) {
		return t.decide(*req.Comment, *req.Accepted, now)
	})
}

func (s *Server) setMetadata(r *http.Request) (int, any) {
	var pairs []kryptogo.Metadata
	if err := decode(r, &pairs); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	return s.changeTask(r, func(t *task, now kryptogo.Timestamp) (int, any, effects) {
		// The reference: "key-value pair object array to append". A key
		// sent again adds a pair; it does not replace the first.
		t.detail.Metadata = append(t.detail.Metadata, pairs...)
		t.detail.UpdateTime = now
		return http.StatusOK, map[string]int{"code": 0}, effects{}
	})
}

func (s *Server) history(r *http.Request) (int, any) {
	q := r.URL.Query()
	size, sizeErr := strconv.Atoi(q.Get("page_size"))
	page, pageErr := strconv.Atoi(q.Get("page_number"))
	var m missing
	m.need(sizeErr == nil && size > 0, "page_size")
	m.need(pageErr == nil && page > 0, "page_number")
	if len(m) > 0 {
		return m.answer()
	}
	return s.view(func(st *store) (int, any) { return st.history(q.Get("customer_reference"), page, size) })
}
