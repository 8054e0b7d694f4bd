package kryptogo_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// A complete callback receiver: each callback URL is signed for one
// customer, and the handler delivers only that customer's records to it.
// In production, also set Confirm to your *kryptogo.Client so the record is
// re-fetched from the API instead of trusted from the body.
func ExampleCallbackHandler() {
	secret := []byte("load-32-or-more-random-bytes-from-your-secret-store")
	signer, err := kryptogo.NewCallbackSigner(secret)
	if err != nil {
		log.Fatal(err)
	}

	seen := map[string]bool{} // use your database in production
	handler := &kryptogo.CallbackHandler{
		Signer: signer,
		OnTask: func(ctx context.Context, task *kryptogo.TaskSummary) error {
			event, _ := kryptogo.CallbackFromContext(ctx)
			if seen[event.Key()] {
				return nil // a duplicate delivery
			}
			seen[event.Key()] = true
			fmt.Printf("customer %s: task %d at %d%%, risk %s\n",
				event.CustomerReference, task.TaskID, task.Progress, task.Report.Rating())
			return nil
		},
	}
	http.Handle("/kryptogo/callback", handler)

	// The URL to pass as callback_url when creating customer-42's task
	// (with CustomerReference "customer-42").
	callbackURL, err := signer.SignURL("https://example.com/kryptogo/callback", "customer-42")
	if err != nil {
		log.Fatal(err)
	}

	// What KryptoGO sends when the task completes (twice: a retry), then a
	// forgery: another customer's task posted to customer-42's URL.
	for _, body := range []string{
		`{"task_id": 123, "customer_reference": "customer-42", "progress": 100, "update_time": 1623867890, "report": {"potential_risk": 51}}`,
		`{"task_id": 123, "customer_reference": "customer-42", "progress": 100, "update_time": 1623867890, "report": {"potential_risk": 51}}`,
		`{"task_id": 124, "customer_reference": "customer-43", "progress": 100, "update_time": 1623867890, "report": {"potential_risk": 0}}`,
	} {
		req, _ := kryptogo.NewSignedCallbackRequest(nil, callbackURL, "", []byte(body))
		rec := httptest.NewRecorder()
		http.DefaultServeMux.ServeHTTP(rec, req)
		fmt.Println("answered", rec.Code)
	}
	// Output:
	// customer customer-42: task 123 at 100%, risk Medium
	// answered 204
	// answered 204
	// answered 403
}
