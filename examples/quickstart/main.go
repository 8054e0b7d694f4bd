// Command quickstart walks through the main flows of kryptogo-go: screen an
// address, run a KYC search whose result arrives on a signed callback,
// accept it, and start a web ID verification.
//
//	go run ./examples/quickstart
//
// Without KRYPTOGO_API_KEY it runs against an in-process fake of the API.
// With it, it calls the API at KRYPTOGO_BASE_URL: a fake started with
// kryptogo-fake (a loopback URL, or the fake's key), or the real API, which
// costs points (set KRYPTOGO_SEARCH_SETTING_ID to one of your search
// settings). The real API cannot reach a callback handler on localhost, so
// the example then falls back to polling.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
)

// The address of the API reference's samples: every kryptogotest fake (in
// process or kryptogo-fake) reports it as sanctioned.
const address = "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// The fake is started with no option, as kryptogo-fake starts it, so
	// that both answer alike.
	env, err := exampleenv.New(out)
	if err != nil {
		return err
	}
	defer env.Close()
	client := env.Client

	// 1. Screen a blockchain address (KYA). The chain is detected from the
	// address; the API reports sanctions-list matches and transactions, but
	// no risk score.
	res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: address})
	if err != nil {
		return fmt.Errorf("screen address: %w", err)
	}
	fmt.Fprintf(out, "1. KYA %d: %s has %d SDN-list matches and %d transactions\n",
		res.KYAID, res.Address, res.SDNCount(), res.TxCount())

	// 2. Receive callbacks on a local handler. Sign the callback URL for the
	// customer, so that forged requests and other customers' records are
	// refused, and confirm every callback with the API.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	signer, err := kryptogo.NewCallbackSigner(secret)
	if err != nil {
		return err
	}
	reports := make(chan *kryptogo.TaskSummary, 4)
	receiver := httptest.NewServer(&kryptogo.CallbackHandler{
		Signer:  signer,
		Confirm: client,
		Logger:  slog.New(slog.DiscardHandler), // see examples/webhook for logging
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			reports <- task
			return nil
		},
	})
	defer receiver.Close()
	callbackURL, err := signer.SignURL(receiver.URL+"/kryptogo/callback", "customer-42")
	if err != nil {
		return err
	}

	// 3. Search a person (KYC). Creating a task costs points.
	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{
		SearchSettingID:   searchSettingID(),
		Target:            kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"),
		CustomerReference: "customer-42",
		CallbackURL:       callbackURL,
	}})
	if err != nil {
		return fmt.Errorf("create KYC task: %w", err)
	}
	taskID := created[0].TaskID
	fmt.Fprintf(out, "2. KYC task %d created with a signed callback URL\n", taskID)

	task, how, err := awaitReport(ctx, client, reports, taskID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "3. Report (%s): potential risk %d (%s), sanction matched: %t\n",
		how, task.Report.PotentialRisk, task.Report.Rating(), task.Report.SanctionMatched)

	// 4. Record the decision. A second decision would be ErrConflict.
	if _, err := client.Tasks.Accept(ctx, taskID, "negative news unrelated to the customer"); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	fmt.Fprintf(out, "4. Task %d accepted\n", taskID)

	// 5. Start a web ID verification and send the customer to its URL.
	session, err := client.IDV.InitWeb(ctx, &kryptogo.InitWebIDVRequest{
		IDType:            kryptogo.IDTypeIDCard,
		WorkflowID:        kryptogo.WorkflowIDAndIdentity,
		Country:           "TWN",
		CustomerReference: "customer-42",
		Locale:            "en",
	})
	if err != nil {
		return fmt.Errorf("start web IDV: %w", err)
	}
	fmt.Fprintf(out, "5. IDV task %d: send the customer to %s\n", session.IDVTaskID, session.URL)
	return nil
}

// awaitReport waits for the task's completion callback; when none arrives
// (the real API cannot reach localhost) it polls instead.
func awaitReport(ctx context.Context, client *kryptogo.Client, reports <-chan *kryptogo.TaskSummary, id kryptogo.ID) (*kryptogo.TaskSummary, string, error) {
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case task := <-reports:
			if task.TaskID == id && task.Completed() {
				return task, "from the callback", nil
			}
		case <-timer.C:
			task, err := client.Tasks.Wait(ctx, id, nil)
			return task, "by polling", err
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
}

func searchSettingID() kryptogo.ID {
	if n, err := strconv.ParseInt(os.Getenv("KRYPTOGO_SEARCH_SETTING_ID"), 10, 64); err == nil {
		return kryptogo.ID(n)
	}
	return 1
}
