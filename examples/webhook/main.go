// Command webhook is a production-shaped receiver of KryptoGO callbacks:
// callback URLs signed for one customer each, confirmation of every callback
// with the API, and processing once per CallbackEvent.Key through the
// handler's inbox (CallbackHandler.Store).
//
// Someone who learns a signed URL (from a proxy log, say) can at most make
// the receiver re-deliver that customer's own current records: the handler
// refuses records of other customers (403), re-fetches every record from the
// API, and the store keeps one decision per task, so re-delivering an older
// task of the customer rewrites only that task's own, current, state.
//
//	go run ./examples/webhook                       # demo against the in-process fake
//	KRYPTOGO_API_KEY=… KRYPTOGO_CALLBACK_SECRET=… \
//	  go run ./examples/webhook -addr :8080 -public-url https://hooks.example.com/kryptogo/callback
//
// With the real API it prints the callback URL signed for customer-42, to
// use when creating that customer's tasks (with CustomerReference
// "customer-42"), and serves until interrupted; KryptoGO must be able to
// reach -public-url. Sign one URL per customer in your own code.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

// Store is the application's state: one decision per task of each
// customer. Which callbacks were processed is the CallbackHandler's inbox
// (its Store), not this.
type Store struct {
	mu sync.Mutex
	// decisions holds each customer's decision per task: a callback can
	// only rewrite the state of the task it is about, never a newer task's.
	decisions map[string]map[kryptogo.ID]string
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{decisions: map[string]map[kryptogo.ID]string{}}
}

// Record sets the decision on one task of a customer.
func (s *Store) Record(customer string, task kryptogo.ID, decision string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.decisions[customer] == nil {
		s.decisions[customer] = map[kryptogo.ID]string{}
	}
	s.decisions[customer][task] = decision
}

// Decisions returns a copy of a customer's decisions, by task.
func (s *Store) Decisions(customer string) map[kryptogo.ID]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[kryptogo.ID]string{}
	for id, d := range s.decisions[customer] {
		out[id] = d
	}
	return out
}

// handler builds the callback receiver. inbox records which callbacks were
// processed: the handler runs OnTask and OnIDV once per CallbackEvent.Key
// and acknowledges repeats without a call. Give every replica the same
// inbox (a redisstore or sqlstore Store; sqlstore's CallbackTx commits
// your effect with the completion); a MemoryStore serves one process.
func handler(signer *kryptogo.CallbackSigner, client *kryptogo.Client, inbox kryptogo.CallbackStore, store *Store, logger *slog.Logger, out io.Writer) http.Handler {
	return &kryptogo.CallbackHandler{
		Signer:  signer, // 401 for URLs we did not sign, 403 for another customer's record
		Confirm: client, // re-fetch the record: the body is only a notice
		Store:   inbox,  // once per CallbackEvent.Key: a repeat is a 204 without a call
		Logger:  logger, // kind, id, key and status; never the body
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			event, _ := kryptogo.CallbackFromContext(ctx)
			customer := event.CustomerReference // the record is this customer's: checked by the handler
			store.Record(customer, task.TaskID, decision(task))
			fmt.Fprintf(out, "customer %s: task %d %s\n", customer, task.TaskID, decision(task))
			return nil
		},
		OnIDV: func(ctx context.Context, task *kryptogo.IDVTask) error {
			event, _ := kryptogo.CallbackFromContext(ctx)
			fmt.Fprintf(out, "customer %s: IDV task %d %s\n", event.CustomerReference, task.IDVTaskID, task.State)
			return nil
		},
	}
}

// decision summarises a task's state for the demo.
func decision(task *kryptogo.TaskSummary) string {
	switch {
	case !task.Completed() || task.Report == nil:
		return fmt.Sprintf("searching (%d%%)", task.Progress)
	case task.Report.Accepted == nil:
		return fmt.Sprintf("completed, risk %s, awaiting review", task.Report.Rating())
	case *task.Report.Accepted:
		return "accepted"
	default:
		return "rejected"
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	flags := flag.NewFlagSet("webhook", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:0", "address to listen on")
	publicURL := flags.String("public-url", "", "URL at which KryptoGO reaches this receiver (real API only)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	env, err := exampleenv.New(out)
	if err != nil {
		return err
	}
	defer env.Close()

	signer, err := newSigner(env.Real())
	if err != nil {
		return err
	}
	store := NewStore()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mux := http.NewServeMux()
	inbox := kryptogo.NewMemoryStore() // one process; replicas share a redisstore or sqlstore Store
	mux.Handle("POST /kryptogo/callback", handler(signer, env.Client, inbox, store, logger, out))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(ln) }()
	defer server.Close()

	base := *publicURL
	if base == "" {
		base = "http://" + ln.Addr().String() + "/kryptogo/callback"
	}
	callbackURL, err := signer.SignURL(base, demoCustomer)
	if err != nil {
		return err
	}
	if env.Fake == nil { // another process's API calls back: serve until interrupted
		fmt.Fprintf(out, "Listening on %s. Use this callback_url for the tasks of customer_reference %q:\n%s\n", ln.Addr(), demoCustomer, callbackURL)
		<-ctx.Done()
		return nil
	}
	return demo(ctx, env, callbackURL, out)
}

// demoCustomer is the customer reference of the demo's task.
const demoCustomer = "customer-42"

// demo creates a task on the fake, accepts it, and waits for both callbacks.
func demo(ctx context.Context, env *exampleenv.Env, callbackURL string, out io.Writer) error {
	created, err := env.Client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{
		SearchSettingID: 1, Target: kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"),
		CustomerReference: demoCustomer, CallbackURL: callbackURL,
	}})
	if err != nil {
		return err
	}
	if err := env.Fake.WaitCallbacks(ctx); err != nil {
		return err
	}
	if _, err := env.Client.Tasks.Accept(ctx, created[0].TaskID, "reviewed"); err != nil {
		return err
	}
	if err := env.Fake.WaitCallbacks(ctx); err != nil {
		return err
	}
	for _, d := range env.Fake.Callbacks() {
		if !d.Delivered {
			return errors.New("a callback was not delivered")
		}
	}
	fmt.Fprintf(out, "%d callbacks received and processed once each\n", len(env.Fake.Callbacks()))
	return nil
}

// newSigner reads the signing secret (hex, ≥ 32 bytes) from
// KRYPTOGO_CALLBACK_SECRET; the demo makes one up.
func newSigner(real bool) (*kryptogo.CallbackSigner, error) {
	if hexSecret := os.Getenv("KRYPTOGO_CALLBACK_SECRET"); hexSecret != "" {
		secret, err := hex.DecodeString(hexSecret)
		if err != nil {
			return nil, fmt.Errorf("KRYPTOGO_CALLBACK_SECRET is not hex: %w", err)
		}
		return kryptogo.NewCallbackSigner(secret)
	}
	if real {
		return nil, errors.New("set KRYPTOGO_CALLBACK_SECRET to 64 hex characters (openssl rand -hex 32): callback URLs must stay valid across restarts")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return kryptogo.NewCallbackSigner(secret)
}
