package kryptogotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// Delivery is one callback the fake sent, or tried to send.
type Delivery struct {
	URL       string
	Kind      kryptogo.CallbackKind
	ID        kryptogo.ID // the task or IDV task
	Body      []byte      // the JSON sent
	Attempts  int
	Status    int   // status of the last attempt; 0 after a network error
	Err       error // why the last attempt failed; nil once delivered
	Delivered bool
	Done      bool // no attempt is left to make
}

// deliverer POSTs callbacks in the background, retrying failures. The
// callbacks of one URL go out one at a time, in order, so a test sees a
// task's completion before its acceptance.
type deliverer struct {
	transport *http.Transport // the fake's own: see newCallbackTransport
	client    *http.Client
	retries   int
	backoff   time.Duration
	done      chan struct{} // closed by close: no new attempt starts
	abort     chan struct{} // closed when close gives up waiting: attempts are cancelled
	once      sync.Once
	aborted   sync.Once
	wg        sync.WaitGroup

	mu         sync.Mutex
	deliveries []*Delivery
	queues     map[string][]*Delivery // per URL, waiting behind the one being sent
	pending    int
}

func newDeliverer(retries int, backoff time.Duration) *deliverer {
	transport := newCallbackTransport()
	return &deliverer{
		transport: transport,
		client:    &http.Client{Timeout: 5 * time.Second, Transport: transport},
		retries:   max(retries, 1),
		backoff:   backoff,
		done:      make(chan struct{}),
		abort:     make(chan struct{}),
		queues:    map[string][]*Delivery{},
	}
}

// newCallbackTransport returns a transport of the fake's own, built fresh
// rather than cloned from http.DefaultTransport: a test that replaces the
// global (gock, a recorder) must not see, or break, the fake's callbacks.
func newCallbackTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// send POSTs payload to url in the background; an empty url sends nothing.
func (d *deliverer) send(url string, kind kryptogo.CallbackKind, payload any) {
	if url == "" {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("kryptogotest: encode callback: %v", err))
	}
	rec := &Delivery{URL: url, Kind: kind, ID: callbackID(payload), Body: body}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deliveries = append(d.deliveries, rec)
	select {
	case <-d.done: // the server is closed: record it, send nothing
		rec.Done, rec.Err = true, errServerClosed
		return
	default:
	}
	d.pending++
	queue, busy := d.queues[url]
	d.queues[url] = append(queue, rec)
	if !busy {
		d.wg.Add(1)
		go d.drain(url)
	}
}

// drain sends the callbacks queued for url, in order, until none is left.
func (d *deliverer) drain(url string) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		queue := d.queues[url]
		if len(queue) == 0 {
			delete(d.queues, url)
			d.mu.Unlock()
			return
		}
		rec := queue[0]
		d.queues[url] = queue[1:]
		d.mu.Unlock()
		if d.closed() {
			d.finish(rec, errServerClosed)
			continue
		}
		d.deliver(rec)
	}
}

func callbackID(payload any) kryptogo.ID {
	switch p := payload.(type) {
	case *kryptogo.TaskSummary:
		return p.TaskID
	case *kryptogo.IDVTask:
		return p.IDVTaskID
	}
	return 0
}

var errServerClosed = errors.New("kryptogotest: server closed")

func (d *deliverer) closed() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *deliverer) deliver(rec *Delivery) {
	defer d.finish(rec, nil)
	wait := d.backoff
	for attempt := 1; attempt <= d.retries; attempt++ {
		status, err := d.post(rec.URL, rec.Body)
		d.mu.Lock()
		rec.Attempts, rec.Status, rec.Err = attempt, status, err
		rec.Delivered = err == nil
		d.mu.Unlock()
		if err == nil || attempt == d.retries {
			return
		}
		select {
		case <-d.done:
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// finish marks rec as done, with err when it was never sent.
func (d *deliverer) finish(rec *Delivery, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec.Done = true
	if err != nil {
		rec.Err = err
	}
	d.pending--
}

func (d *deliverer) post(url string, body []byte) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kryptogotest-callback/1")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("callback answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// closeGrace is how long Close lets attempts already on the wire finish, so
// that no receiver sees a callback after Close returned; a receiver slower
// than that has its attempt cancelled.
const closeGrace = 2 * time.Second

// close stops deliveries: callbacks queued or sent later are recorded, not
// sent, and no delivery goroutine runs once it returns. done is closed under
// mu, so send either saw it closed or added to wg before Wait began.
func (d *deliverer) close() {
	d.mu.Lock()
	d.once.Do(func() { close(d.done) })
	d.mu.Unlock()
	finished := make(chan struct{})
	go func() { d.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(closeGrace):
		d.aborted.Do(func() { close(d.abort) })
		<-finished
	}
	d.transport.CloseIdleConnections()
}

func (d *deliverer) snapshot() ([]Delivery, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Delivery, len(d.deliveries))
	for i, rec := range d.deliveries {
		out[i] = *rec
	}
	return out, d.pending
}
