package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// effects is the user's own table in the store's database: one row per
// time the callback's effect ran. It has no unique key on purpose, so that
// only the store can keep the effect to one row.
type effects struct {
	db    *sql.DB
	table string
	param func(n int) string
}

func newEffects(t *testing.T, db *sql.DB, dialect sqlstore.Dialect) *effects {
	t.Helper()
	e := effectsTable(db, dialect, "effects_"+uniquePrefix())
	_, err := db.ExecContext(t.Context(), "CREATE TABLE "+e.table+" (callback text NOT NULL, worker text NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP TABLE "+e.table) })
	return e
}

// effectsTable returns the effects table of that name.
func effectsTable(db *sql.DB, dialect sqlstore.Dialect, table string) *effects {
	e := &effects{db: db, table: table, param: func(int) string { return "?" }}
	if dialect == sqlstore.Postgres {
		e.param = func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	return e
}

// write runs the effect of callback key in tx.
func (e *effects) write(ctx context.Context, tx *sql.Tx, key, worker string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO "+e.table+" (callback, worker) VALUES ("+e.param(1)+", "+e.param(2)+")", key, worker)
	return err
}

// count returns how many times the effect of key committed.
func (e *effects) count(t *testing.T, key string) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+e.table+" WHERE callback = "+e.param(1), key).Scan(&n))
	return n
}

func claim(t *testing.T, s *sqlstore.Store, key, token string, lease time.Duration) kryptogo.CallbackClaimState {
	t.Helper()
	got, err := s.ClaimCallback(t.Context(), key, token, lease)
	require.NoError(t, err)
	return got.State
}

// eventuallyClaim claims key for token once the lease holding it runs out.
func eventuallyClaim(t *testing.T, s *sqlstore.Store, key, token string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for claim(t, s, key, token, time.Minute) != kryptogo.CallbackClaimed {
		require.False(t, time.Now().After(deadline), "the lease on %s did not run out within %v", key, patience)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCallbackTxCommitsEffectAndCompletionTogether(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		s, fx, ctx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect), t.Context()

		require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "a", time.Minute))
		require.NoError(t, s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error { return fx.write(ctx, tx, "cb", "a") }))
		assert.Equal(t, 1, fx.count(t, "cb"))
		assert.Equal(t, kryptogo.CallbackDone, claim(t, s, "cb", "b", time.Minute), "the completion did not commit with the effect")

		// The handler completes again after OnTask returned: nothing changes.
		require.NoError(t, s.CompleteCallback(ctx, "cb", "a"))
		called := false
		err := s.CallbackTx(ctx, "cb", func(*sql.Tx) error { called = true; return nil })
		require.ErrorIs(t, err, sqlstore.ErrCallbackDone)
		assert.False(t, called, "CallbackTx ran the function of a processed callback")
		assert.Equal(t, 1, fx.count(t, "cb"))
	})
}

// TestCallbackTxRollbackLeavesItToTheRetry: the function failed (or the
// commit did): neither the effect nor the completion is there, and after
// the handler's release the sender's retry processes the callback.
func TestCallbackTxRollbackLeavesItToTheRetry(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		s, fx, ctx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect), t.Context()
		boom := errors.New("boom")

		require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "a", time.Minute))
		err := s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error {
			require.NoError(t, fx.write(ctx, tx, "cb", "a"))
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Zero(t, fx.count(t, "cb"), "the effect of a failed transaction committed")
		assert.Equal(t, kryptogo.CallbackBusy, claim(t, s, "cb", "b", time.Minute), "the claim must outlive the rollback until released")

		require.NoError(t, s.ReleaseCallback(ctx, "cb", "a"))
		require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "b", time.Minute), "the retry after the release")
		require.NoError(t, s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error { return fx.write(ctx, tx, "cb", "b") }))
		assert.Equal(t, 1, fx.count(t, "cb"))
	})
}

// TestCompleteCallbackTxInTheCallersTransaction: the caller's own
// transaction, effect first and completion last, after a claim made in its
// own statement: no deadlock, and a rollback leaves nothing.
func TestCompleteCallbackTxInTheCallersTransaction(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		s, fx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect)
		ctx, cancel := context.WithTimeout(t.Context(), patience)
		defer cancel()

		require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "a", time.Minute))
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, fx.write(ctx, tx, "cb", "a"))
		require.NoError(t, s.CompleteCallbackTx(ctx, tx, "cb"))
		require.NoError(t, tx.Rollback())
		assert.Zero(t, fx.count(t, "cb"))
		assert.Equal(t, kryptogo.CallbackBusy, claim(t, s, "cb", "b", time.Minute), "a rolled back completion recorded the callback done")

		tx, err = db.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, fx.write(ctx, tx, "cb", "a"))
		require.NoError(t, s.CompleteCallbackTx(ctx, tx, "cb"))
		require.NoError(t, tx.Commit())
		assert.Equal(t, 1, fx.count(t, "cb"))
		assert.Equal(t, kryptogo.CallbackDone, claim(t, s, "cb", "b", time.Minute))
	})
}

// TestLateCompletionWins: a replica whose lease ran out while it worked
// commits its effect first; the replica that took the callback over is
// told ErrCallbackDone and rolls back. The effect happens once.
func TestLateCompletionWins(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		db := d.connect(t)
		s, fx, ctx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect), t.Context()

		require.Equal(t, kryptogo.CallbackClaimed, claim(t, s, "cb", "slow", 100*time.Millisecond))
		eventuallyClaim(t, s, "cb", "fast") // the sender's retry reached another replica

		require.NoError(t, s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error { return fx.write(ctx, tx, "cb", "slow") }),
			"a completion after the lease ran out must be recorded")
		err := s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error { return fx.write(ctx, tx, "cb", "fast") })
		require.ErrorIs(t, err, sqlstore.ErrCallbackDone)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, fx.write(ctx, tx, "cb", "fast"))
		require.ErrorIs(t, s.CompleteCallbackTx(ctx, tx, "cb"), sqlstore.ErrCallbackDone, "completion written after the effect")
		require.NoError(t, tx.Rollback())

		assert.Equal(t, 1, fx.count(t, "cb"))
		require.NoError(t, s.ReleaseCallback(ctx, "cb", "fast"))
		assert.Equal(t, kryptogo.CallbackDone, claim(t, s, "cb", "third", time.Minute))
	})
}

// TestSecondCompletionWaitsForTheFirst: while one transaction holds the
// completion, another delivery's transaction waits for it, then learns
// the outcome: ErrCallbackDone after a commit, the go-ahead after a
// rollback. A claim meanwhile waits too, and sees the commit.
func TestSecondCompletionWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
				db := d.connect(t)
				s, fx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect)
				ctx, cancel := context.WithTimeout(t.Context(), patience)
				defer cancel()

				first, err := db.BeginTx(ctx, nil)
				require.NoError(t, err)
				require.NoError(t, s.CompleteCallbackTx(ctx, first, "cb"))
				require.NoError(t, fx.write(ctx, first, "cb", "first"))

				var (
					wg        sync.WaitGroup
					secondErr error
					claimed   kryptogo.CallbackClaim
					claimErr  error
				)
				wg.Go(func() {
					secondErr = s.CallbackTx(ctx, "cb", func(tx *sql.Tx) error { return fx.write(ctx, tx, "cb", "second") })
				})
				if commit {
					wg.Go(func() { claimed, claimErr = s.ClaimCallback(ctx, "cb", "third", time.Minute) })
					require.NoError(t, first.Commit())
				} else {
					require.NoError(t, first.Rollback())
				}
				wg.Wait()

				assert.Equal(t, 1, fx.count(t, "cb"))
				if commit {
					require.ErrorIs(t, secondErr, sqlstore.ErrCallbackDone)
					require.NoError(t, claimErr)
					assert.Equal(t, kryptogo.CallbackDone, claimed.State)
				} else {
					require.NoError(t, secondErr)
				}
			})
		}
	})
}

// TestConcurrentDeliveriesRunTheEffectOnce delivers each callback from 16
// goroutines, with their own pools, like replicas, and leases short
// enough to run out while a transaction works. Every goroutine acts as
// the handler and the sender's retries: claim; busy → retry; done → stop;
// claimed → effect and completion in one transaction (the completion
// first or last) → on ErrCallbackDone roll back and stop, on another error
// release and retry. Each callback's effect must commit exactly once.
func TestConcurrentDeliveriesRunTheEffectOnce(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		dsn := d.dsn(t)
		admin := d.open(t, dsn)
		prefix := uniquePrefix()
		newStore(t, admin, d.dialect, sqlstore.WithTablePrefix(prefix))
		fx := newEffects(t, admin, d.dialect)
		const (
			workers   = 16
			callbacks = 4
			lease     = 150 * time.Millisecond
		)
		ctx, cancel := context.WithTimeout(t.Context(), 2*patience)
		defer cancel()

		var wg sync.WaitGroup
		for w := range workers {
			db := d.open(t, dsn)
			s := sqlstore.New(db, d.dialect, sqlstore.WithTablePrefix(prefix))
			wg.Go(func() {
				for c := range callbacks {
					key := fmt.Sprintf("task:%d", c)
					if err := deliverUntilDone(ctx, s, db, fx, key, fmt.Sprintf("w%d", w), w%2 == 0, lease); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for c := range callbacks {
			assert.Equal(t, 1, fx.count(t, fmt.Sprintf("task:%d", c)), "task:%d", c)
		}
	})
}

// deliverUntilDone is one sender delivering key to one replica until the
// replica answers that it is processed.
func deliverUntilDone(ctx context.Context, s *sqlstore.Store, db *sql.DB, fx *effects, key, worker string, completeFirst bool, lease time.Duration) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %s still not processed after %d deliveries: %w", worker, key, attempt, err)
		}
		token := fmt.Sprintf("%s-%d", worker, attempt)
		got, err := s.ClaimCallback(ctx, key, token, lease)
		if err != nil {
			return err
		}
		switch got.State {
		case kryptogo.CallbackDone:
			return nil
		case kryptogo.CallbackBusy:
			time.Sleep(min(got.RetryAfter, 20*time.Millisecond))
			continue
		}
		// Every third run outlives its lease, so that another delivery
		// takes the callback over while this one works.
		slow := attempt%3 == 0
		err = process(ctx, s, db, fx, key, worker, completeFirst, slow, lease)
		switch {
		case errors.Is(err, sqlstore.ErrCallbackDone):
			return nil
		case err != nil:
			if err := s.ReleaseCallback(ctx, key, token); err != nil {
				return err
			}
		default:
			if err := s.CompleteCallback(ctx, key, token); err != nil {
				return err
			}
		}
	}
}

func process(ctx context.Context, s *sqlstore.Store, db *sql.DB, fx *effects, key, worker string, completeFirst, slow bool, lease time.Duration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	steps := []func() error{
		func() error { return fx.write(ctx, tx, key, worker) },
		func() error { return s.CompleteCallbackTx(ctx, tx, key) },
	}
	if completeFirst {
		steps[0], steps[1] = steps[1], steps[0]
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return err
		}
		if i == 0 && slow {
			time.Sleep(lease + 50*time.Millisecond)
		}
	}
	return tx.Commit()
}
