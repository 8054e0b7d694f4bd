package sqlstore

import (
	"context"
)

// Prune deletes the rows that expired (idempotency keys and callbacks past
// their retention, pauses that ended), in batches, and returns how many it
// deleted. Expired rows are treated as absent either way: pruning only
// keeps the tables small. A store prunes itself now and then (see
// WithPruneInterval); call Prune from a job of your own when that is
// turned off.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var total int64
	for _, q := range s.q.prune {
		for {
			n, err := s.pruneBatch(ctx, q)
			total += n
			if err != nil {
				return total, err
			}
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

func (s *Store) pruneBatch(ctx context.Context, q string) (int64, error) {
	res, err := s.exec(ctx, q, s.args())
	if err != nil {
		return 0, wrap("prune", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("prune", err)
}

// maybePrune deletes one batch of expired rows of each table when the
// interval since the last time has passed, and again at the next write
// when a batch was full. It runs after a write of the caller succeeded, on
// the caller's context; its errors are dropped, since the next prune
// retries and expired rows are ignored anyway. One caller of the process
// prunes at a time.
func (s *Store) maybePrune(ctx context.Context) {
	if s.pruneInterval < 0 {
		return
	}
	now := s.now().UnixNano()
	due := s.nextPrune.Load()
	if now < due || !s.nextPrune.CompareAndSwap(due, now+int64(s.pruneInterval)) {
		return
	}
	for _, q := range s.q.prune {
		if n, err := s.pruneBatch(ctx, q); err == nil && n == pruneBatch {
			s.nextPrune.Store(now) // more left: the next write goes on
		}
	}
}
