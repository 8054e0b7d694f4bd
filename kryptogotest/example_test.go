package kryptogotest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// Point the real client at the fake, as in a test of your own code.
func ExampleNewServer() {
	srv := kryptogotest.NewServer(kryptogotest.WithManualCompletion())
	defer srv.Close()
	client := srv.Client()
	ctx := context.Background()

	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme Ltd.")}})
	if err != nil {
		log.Fatal(err)
	}
	id := created[0].TaskID
	sum, _ := client.Tasks.Summary(ctx, id)
	fmt.Println("progress before:", sum.Progress)

	_ = srv.CompleteTask(id, kryptogotest.TaskOutcome{PotentialRisk: 90, SanctionMatched: true})
	sum, _ = client.Tasks.Summary(ctx, id)
	fmt.Println("after:", sum.Report.Rating(), sum.Report.SanctionMatched)

	// Your code's error handling, tested: the next task creation fails,
	// and no other request does.
	srv.FailNextOnRequest("POST", "/task", 1, http.StatusInternalServerError)
	_, err = client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget("Acme Ltd.")}})
	fmt.Println(err)
	// Output:
	// progress before: 0
	// after: High true
	// kryptogo: POST /task: 500 Internal Server Error (code 500): injected failure [request id kryptogotest-4] (the request may have reached the API; check before sending it again)
}
