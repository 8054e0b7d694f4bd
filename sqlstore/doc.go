// Package sqlstore keeps the state that the replicas of a service using
// kryptogo-go must share in a SQL database: idempotency keys
// (kryptogo.IdempotencyStore, so a create is sent once whichever replica
// retries it), processed callbacks (kryptogo.CallbackStore, so a callback
// delivered twice, to any replica, runs once) and the 429 pause
// (kryptogo.PauseStore, so a pause one replica meets holds them all).
//
// It works on PostgreSQL, for several machines, and on SQLite, for the
// processes of one machine, through database/sql with the driver you
// already use; the package itself imports none.
//
// # PostgreSQL
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // import _ "github.com/jackc/pgx/v5/stdlib"
//	if err != nil { return err }
//	store := sqlstore.New(db, sqlstore.Postgres)
//	if err := store.Migrate(ctx); err != nil { return err } // creates kryptogo_* tables once
//	client, err := kryptogo.NewClient(apiKey,
//		kryptogo.WithIdempotencyStore(store), kryptogo.WithPauseStore(store))
//	if err != nil { return err }
//	handler := &kryptogo.CallbackHandler{Signer: signer, Store: store, OnTask: onTask}
//
// # SQLite
//
//	dsn := "file:/var/lib/app/kryptogo.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
//	db, err := sql.Open("sqlite", dsn) // import _ "modernc.org/sqlite"
//	if err != nil { return err }
//	store := sqlstore.New(db, sqlstore.SQLite)
//	if err := store.Migrate(ctx); err != nil { return err }
//	client, err := kryptogo.NewClient(apiKey,
//		kryptogo.WithIdempotencyStore(store), kryptogo.WithPauseStore(store))
//	if err != nil { return err }
//	handler := &kryptogo.CallbackHandler{Signer: signer, Store: store, OnTask: onTask}
//
// SQLite needs two pragmas, set per connection through the DSN (the form
// above is modernc.org/sqlite's; mattn/go-sqlite3 spells them
// _busy_timeout=10000&_journal_mode=WAL):
//   - busy_timeout: a writer waits this long (milliseconds) for another's
//     write to end, instead of failing at once with SQLITE_BUSY. Make it
//     longer than your longest transaction on the database.
//   - journal_mode(WAL): readers do not wait for the writer.
//
// Use a file (not :memory:, which each connection sees apart), on a local
// disk. Transactions of your own that read before they write may fail with
// SQLITE_BUSY under load; begin them with the write lock (modernc's
// _txlock=immediate), or let CallbackTx, whose first statement writes,
// run them.
//
// # Exactly once, effect included
//
// A CallbackHandler with a Store runs OnTask once per callback while the
// store works; but a replica that dies after the effect and before the
// completion leaves the callback to be processed again. CallbackTx (or
// CompleteCallbackTx in a transaction of your own) records the completion
// in the transaction that writes the effect, so the two commit together or
// not at all:
//
//	onTask := func(ctx context.Context, task *kryptogo.TaskSummary) error {
//		ev, _ := kryptogo.CallbackFromContext(ctx)
//		err := store.CallbackTx(ctx, ev.Key(), func(tx *sql.Tx) error {
//			_, err := tx.ExecContext(ctx, `UPDATE customers SET kyc_checked = true WHERE kyc_task = $1`, task.TaskID)
//			return err
//		})
//		if errors.Is(err, sqlstore.ErrCallbackDone) {
//			return nil // another delivery committed it first
//		}
//		return err
//	}
//
// # Tables and time
//
// Migrate creates three tables, <prefix>idempotency_keys,
// <prefix>callbacks and <prefix>pauses (prefix "kryptogo_" unless
// WithTablePrefix says otherwise), and records the schema version in
// <prefix>schema_migrations; later versions of this package add
// migrations that Migrate applies. Every method is one statement (an
// INSERT ... ON CONFLICT ... RETURNING upsert, or a guarded UPDATE or
// DELETE): atomic in the database, never a read in Go followed by a write.
// A statement PostgreSQL refuses with a serialization failure or a
// deadlock (when its default isolation is REPEATABLE READ or SERIALIZABLE)
// changed nothing and is run again, a few times at most.
// On PostgreSQL, leases and retention run on the database's clock, so
// replicas whose clocks differ still agree; on SQLite, on the process
// clock. Expired rows count as absent, and are deleted in small batches
// now and then by the store's own writes (WithPruneInterval) or by Prune.
//
// # When the database is down
//
// Every method returns the database's error, and never a claim it did not
// make: Claim and ClaimCallback then report nothing claimed. The SDK fails
// closed on them: a create with an idempotency key is not sent, and a
// callback is answered 503, so that its sender retries. A PauseStore error
// leaves each client with the pause it saw itself: the pause is shared on
// a best-effort basis (fail open), and the API's 429s still slow every
// replica down.
package sqlstore
