package kryptogo

import (
	"context"
	"errors"
	"time"
)

// A call holds its keys with leases, which it renews while it runs. A
// lease can still run out under it (the store unreachable from its process
// for a whole lease, a process paused): another caller may then take the
// key over in doubt, look the create up, find nothing yet, and send. If the
// first call's POST were still on its way, both would create. So a call's
// send is fenced by its lease: cut once the lease it last confirmed may
// have run out, by the local clock, before another caller can take the key
// over by the store's.

// errLeaseLost is the cause of a send cut because the call's lease on its
// idempotency key may have run out.
var errLeaseLost = errors.New("kryptogo: the send was stopped: this call's lease on its idempotency key ran out (the idempotency store did not confirm it in time), and another caller may take the key over")

// leaseMargin is the part of a lease a fenced send gives up, for the
// store's clock running a little faster than the local one.
const leaseMargin = 10 // a tenth

// renew keeps the leases of the keys held until finish: a call that takes
// longer than a lease (a slow send, a reconciliation's waits) never loses
// its key to another caller. A renewal that fails is logged and tried
// again; when no renewal confirmed a key's lease before its end, lost is
// closed and the call's send is cut (fenced). A renewal that finds the key
// taken over is logged; the call then cannot mark the key in doubt, and
// sends nothing.
func (s *keySet) renew() {
	var held []*heldKey
	for _, h := range s.keys {
		if h.held {
			held = append(held, h)
		}
	}
	if len(held) == 0 || s.stopRenewal != nil {
		return
	}
	lease := s.c.keyLease
	every := lease / 3
	s.lost = make(chan struct{})
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		// A key taken long ago (the call then waited for another key's
		// holder) is renewed at once.
		if time.Until(leaseEnd(held, lease)) < every {
			held = s.renewAll(held, every)
		}
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for len(held) > 0 {
			expiry := time.NewTimer(time.Until(leaseEnd(held, lease)))
			select {
			case <-stop:
				expiry.Stop()
				return
			case <-expiry.C:
				close(s.lost)
				s.warn(s.base, errLeaseLost.Error())
				return // nothing more is sent: the renewal has no use
			case <-ticker.C:
				expiry.Stop()
			}
			held = s.renewAll(held, every)
		}
	}()
	s.stopRenewal = func() { close(stop); <-stopped }
}

// renewAll renews the leases of the keys held, and returns those still
// held without an outcome.
func (s *keySet) renewAll(held []*heldKey, timeout time.Duration) []*heldKey {
	left := held[:0]
	for _, h := range held {
		switch asked, state := s.renewKey(h, timeout); state {
		case leaseConfirmed:
			h.confirmed = asked
			left = append(left, h)
		case leaseUnconfirmed:
			left = append(left, h)
		} // leaseDone: recorded, nothing more is sent under it
	}
	return left
}

// leaseEnd is the earliest end of the keys' leases, by the local clock,
// less leaseMargin.
func leaseEnd(held []*heldKey, lease time.Duration) time.Time {
	end := held[0].confirmed
	for _, h := range held[1:] {
		if h.confirmed.Before(end) {
			end = h.confirmed
		}
	}
	return end.Add(lease - lease/leaseMargin)
}

// The outcomes of a renewal.
const (
	leaseUnconfirmed = iota // the store failed, or another caller holds the key
	leaseConfirmed
	leaseDone
)

// renewKey claims a held key again with the call's token, and returns when
// it asked and what came of it. A key completed meanwhile is left as it
// is: a done key cannot be claimed.
func (s *keySet) renewKey(h *heldKey, timeout time.Duration) (time.Time, int) {
	ctx, cancel := context.WithTimeout(s.base, timeout)
	defer cancel()
	asked := time.Now()
	rec, ok, err := s.c.keys.Claim(ctx, h.key, s.token, h.fingerprint, s.c.keyLease)
	switch {
	case err != nil:
		s.warn(ctx, "kryptogo: renewing an idempotency key's lease failed; it is tried again", s.errorAttr(err))
	case ok:
		return asked, leaseConfirmed
	case rec.Done:
		return asked, leaseDone
	default:
		s.warn(ctx, "kryptogo: another caller took over an idempotency key this call held (its lease ran out)")
	}
	return asked, leaseUnconfirmed
}

// fenced returns ctx for the call's send, cut (its cause errLeaseLost)
// once a lease of the call's keys may have run out; stop releases it.
func (s *keySet) fenced(ctx context.Context) (fenced context.Context, stop func()) {
	if s == nil || s.lost == nil {
		return ctx, func() {}
	}
	fenced, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.lost:
			cancel(errLeaseLost)
		case <-fenced.Done():
		}
	}()
	return fenced, func() { cancel(nil) }
}
