package kryptogo_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// A complete callback receiver: the signer refuses URLs you did not sign,
// and OnTask learns which customer the task is about from the signed URL.
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
				event.Params.Get("customer"), task.TaskID, task.Progress, task.Report.Rating())
			return nil
		},
	}
	http.Handle("/kryptogo/callback", handler)

	// The URL to pass as callback_url when creating the task.
	callbackURL, err := signer.SignURL("https://example.com/kryptogo/callback?customer=42")
	if err != nil {
		log.Fatal(err)
	}

	// What KryptoGO sends when the task completes (twice: a retry).
	for range 2 {
		req, _ := kryptogo.NewSignedCallbackRequest(nil, callbackURL,
			[]byte(`{"task_id": 123, "progress": 100, "update_time": 1623867890, "report": {"potential_risk": 51}}`))
		rec := httptest.NewRecorder()
		http.DefaultServeMux.ServeHTTP(rec, req)
		fmt.Println("answered", rec.Code)
	}
	// Output:
	// customer 42: task 123 at 100%, risk Medium
	// answered 204
	// answered 204
}
