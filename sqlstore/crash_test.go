package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// The test binary doubles as a replica that the crash test kills: with
// crashEnv set, TestMain runs crashReplica instead of the tests.
const crashEnv = "SQLSTORE_CRASH_REPLICA"

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		os.Exit(crashReplica())
	}
	os.Exit(m.Run())
}

// crashReplica claims a callback, writes its effect and its completion in
// one transaction, commits it or not (SQLSTORE_CRASH_STAGE), prints
// "ready" and waits to be killed.
func crashReplica() int {
	env := os.Getenv
	dialect, _ := strconv.Atoi(env("SQLSTORE_CRASH_DIALECT"))
	db, err := sql.Open(env("SQLSTORE_CRASH_DRIVER"), env("SQLSTORE_CRASH_DSN"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	s := sqlstore.New(db, sqlstore.Dialect(dialect), sqlstore.WithTablePrefix(env("SQLSTORE_CRASH_PREFIX")))
	fx := effectsTable(db, sqlstore.Dialect(dialect), env("SQLSTORE_CRASH_EFFECTS"))
	if err := crashReplicaWork(s, db, fx, env("SQLSTORE_CRASH_KEY"), env("SQLSTORE_CRASH_STAGE")); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	select {} // until killed
}

func crashReplicaWork(s *sqlstore.Store, db *sql.DB, fx *effects, key, stage string) error {
	ctx := context.Background()
	got, err := s.ClaimCallback(ctx, key, "replica", 2*time.Second)
	if err != nil || got.State != kryptogo.CallbackClaimed {
		return fmt.Errorf("claim: %v %v", got.State, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := s.CompleteCallbackTx(ctx, tx, key); err != nil {
		return err
	}
	if err := fx.write(ctx, tx, key, "replica"); err != nil {
		return err
	}
	if stage == "after commit" {
		return tx.Commit() // killed before the handler's CompleteCallback
	}
	return nil // killed with the transaction open
}

// TestReplicaKilledMidCallback kills (SIGKILL) a replica processing a
// callback, with its transaction open or just committed. Open: neither the
// effect nor the completion survives, and once the claim runs out the
// sender's retry processes the callback. Committed: both survive, and the
// retry is a duplicate.
func TestReplicaKilledMidCallback(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, d database) {
		for _, stage := range []string{"before commit", "after commit"} {
			t.Run(stage, func(t *testing.T) {
				dsn := d.dsn(t)
				db := d.open(t, dsn)
				s, fx := newStore(t, db, d.dialect), newEffects(t, db, d.dialect)
				runAndKillReplica(t, d, dsn, s, fx, stage)

				state := claim(t, s, "cb", "retry", time.Minute)
				if stage == "after commit" {
					assert.Equal(t, kryptogo.CallbackDone, state)
					assert.Equal(t, 1, fx.count(t, "cb"))
					return
				}
				assert.NotEqual(t, kryptogo.CallbackDone, state, "the completion of a transaction that never committed")
				assert.Zero(t, fx.count(t, "cb"), "the effect of a transaction that never committed")
				if state != kryptogo.CallbackClaimed {
					eventuallyClaim(t, s, "cb", "retry")
				}
				require.NoError(t, s.CallbackTx(t.Context(), "cb", func(tx *sql.Tx) error { return fx.write(t.Context(), tx, "cb", "retry") }))
				assert.Equal(t, 1, fx.count(t, "cb"))
			})
		}
	})
}

func runAndKillReplica(t *testing.T, d database, dsn string, s *sqlstore.Store, fx *effects, stage string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		crashEnv+"=1",
		"SQLSTORE_CRASH_DIALECT="+strconv.Itoa(int(d.dialect)),
		"SQLSTORE_CRASH_DRIVER="+d.driver,
		"SQLSTORE_CRASH_DSN="+dsn,
		"SQLSTORE_CRASH_PREFIX="+tablePrefix(s),
		"SQLSTORE_CRASH_EFFECTS="+fx.table,
		"SQLSTORE_CRASH_KEY=cb",
		"SQLSTORE_CRASH_STAGE="+stage,
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the replica ended before it was ready")
	require.Equal(t, "ready\n", line)
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred cleanup, no rollback from Go
	_ = cmd.Wait()
}

// tablePrefix returns the prefix of s's tables.
func tablePrefix(s *sqlstore.Store) string {
	name := sqlstore.Tables(s)[0]
	return name[:len(name)-len("idempotency_keys")]
}
