package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/sqlstore"
)

// A store on PostgreSQL, shared by every replica of a service.
func ExampleNew_postgres() {
	ctx := context.Background()
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // _ "github.com/jackc/pgx/v5/stdlib"
	if err != nil {
		log.Fatal(err)
	}
	store := sqlstore.New(db, sqlstore.Postgres)
	if err := store.Migrate(ctx); err != nil { // at start-up: creates the kryptogo_* tables once
		log.Fatal(err)
	}
	var _ kryptogo.IdempotencyStore = store // and CallbackStore, PauseStore
}

// A store on SQLite, for the processes of one machine; the callback's
// effect commits in the transaction that records it processed.
func ExampleNew_sqlite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kryptogo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "kryptogo.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn) // _ "modernc.org/sqlite"
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store := sqlstore.New(db, sqlstore.SQLite)
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE approvals (task_id INTEGER NOT NULL)`); err != nil {
		log.Fatal(err)
	}

	key := "task:42:1764579600:100:true" // CallbackEvent.Key()
	for _, delivery := range []string{"first delivery", "second delivery"} {
		claim, err := store.ClaimCallback(ctx, key, delivery, time.Minute)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(delivery+":", claim.State)
		if claim.State != kryptogo.CallbackClaimed {
			continue
		}
		err = store.CallbackTx(ctx, key, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO approvals (task_id) VALUES (?)`, 42)
			return err
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	var approvals int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM approvals`).Scan(&approvals); err != nil {
		log.Fatal(err)
	}
	fmt.Println("approvals:", approvals)
	// Output:
	// first delivery: claimed
	// second delivery: done
	// approvals: 1
}

// OnTask writes its effect in the transaction that records the callback
// processed: if the process dies before the commit, neither happened, and
// the sender's next delivery runs it again.
func ExampleStore_CallbackTx() {
	var db *sql.DB // the database of the store, and of the application's tables
	store := sqlstore.New(db, sqlstore.Postgres)
	handler := &kryptogo.CallbackHandler{
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			ev, _ := kryptogo.CallbackFromContext(ctx)
			err := store.CallbackTx(ctx, ev.Key(), func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE customers SET kyc_task = $1 WHERE reference = $2`, task.TaskID, ev.CustomerReference)
				return err
			})
			if errors.Is(err, sqlstore.ErrCallbackDone) {
				return nil // another delivery of it committed first
			}
			return err
		},
	}
	_ = handler
}
