package kryptogo

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// taskClaims is the registry of the CreateOnce calls of one client: the
// tasks they took as theirs (received in a send's answer, or found in the
// history after a send in doubt), their sends in flight by customer, and
// the calls running. A task is claimed by one call: a lookup claims a task
// of the history only after every send for the same customer that was in
// flight when the history was read has resolved, since such a send's
// receipt may be that task and its sender claims it first. So two calls
// never report the same task, whatever the interleaving. Other processes
// and clients share nothing.
type taskClaims struct {
	mu    sync.Mutex
	held  map[ID]taskClaim                // the tasks claimed, and by whom
	sends map[string]map[*createSend]bool // sends in flight, by customer reference
	calls map[*createOnce]time.Time       // the calls running, and when each began
}

// taskClaim is a task one CreateOnce call took as its own.
type taskClaim struct {
	by *createOnce
	at time.Time
}

// createSend is one POST of a CreateOnce call while it is in flight.
type createSend struct {
	refs []string      // its customers, without repeats
	done chan struct{} // closed once it resolved and its receipts were claimed
}

// claimTTL is how long a claim is kept past the start of the oldest call
// still running (or past now, when none runs): well past the window of any
// lookup that call could make (createOnceSkew before its sends), however
// long its sends and lookups take, and short enough to keep the map small.
const claimTTL = 10 * time.Minute

// enter marks the call o as running since now: the claims its lookups could
// meet are kept until it leaves.
func (c *taskClaims) enter(o *createOnce, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[*createOnce]time.Time{}
	}
	c.calls[o] = now
}

// leave marks the call o as ended.
func (c *taskClaims) leave(o *createOnce) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.calls, o)
}

// begin marks a send for the customers refs as in flight.
func (c *taskClaims) begin(refs []string) *createSend {
	s := &createSend{done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sends == nil {
		c.sends = map[string]map[*createSend]bool{}
	}
	for _, ref := range refs {
		if c.sends[ref][s] {
			continue
		}
		if c.sends[ref] == nil {
			c.sends[ref] = map[*createSend]bool{}
		}
		c.sends[ref][s] = true
		s.refs = append(s.refs, ref)
	}
	return s
}

// finish claims the receipts of a send for its call, by (none when no
// answer came), then ends its mark, under one lock: a lookup waiting for it
// finds them claimed.
func (c *taskClaims) finish(s *createSend, by *createOnce, receipts []ID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	for _, id := range receipts {
		// No other call holds a receipt: a lookup that could have read it
		// waited for this send.
		c.claim(id, by, now)
	}
	for _, ref := range s.refs {
		delete(c.sends[ref], s)
		if len(c.sends[ref]) == 0 {
			delete(c.sends, ref)
		}
	}
	close(s.done)
}

// awaitSends waits until every send for the customer ref in flight now has
// resolved, or ctx ends. Sends that begin later are not waited for: their
// tasks cannot be in a history read before they began.
func (c *taskClaims) awaitSends(ctx context.Context, ref string) error {
	return awaitAll(ctx, c.inFlight(ref))
}

// inFlight returns the sends for the customer ref in flight now.
func (c *taskClaims) inFlight(ref string) []*createSend {
	c.mu.Lock()
	defer c.mu.Unlock()
	sends := make([]*createSend, 0, len(c.sends[ref]))
	for s := range c.sends[ref] {
		sends = append(sends, s)
	}
	return sends
}

// awaitAll waits until every send resolved, or ctx ends.
func awaitAll(ctx context.Context, sends []*createSend) error {
	for _, s := range sends {
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for another CreateOnce call's send for the same customer: %w", ctx.Err())
		}
	}
	return nil
}

// take claims the task for the call by unless another call holds it, and
// reports whether it did. Claims past claimTTL are dropped first.
func (c *taskClaims) take(id ID, by *createOnce, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if held, ok := c.held[id]; ok && held.by != by {
		return false
	}
	c.claim(id, by, now)
	return true
}

func (c *taskClaims) claim(id ID, by *createOnce, now time.Time) {
	if c.held == nil {
		c.held = map[ID]taskClaim{}
	}
	c.held[id] = taskClaim{by: by, at: now}
}

// prune drops the claims made more than claimTTL before the start of the
// oldest call running, or before now when no call runs: a call that began
// later cannot meet their tasks, whose creation lies more than
// createOnceSkew before its sends.
func (c *taskClaims) prune(now time.Time) {
	horizon := now
	for _, began := range c.calls {
		if began.Before(horizon) {
			horizon = began
		}
	}
	for id, held := range c.held {
		if horizon.Sub(held.at) > claimTTL {
			delete(c.held, id)
		}
	}
}
