package kryptogo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// The examples run against kryptogotest, the in-memory fake; in production,
// build the client with kryptogo.NewClientFromEnv() instead.

func ExampleNewClient() {
	client, err := kryptogo.NewClient("your-api-key",
		kryptogo.WithTimeout(30*time.Second),
		kryptogo.WithMaxRetries(3),
		kryptogo.WithUserAgent("my-exchange/1.4"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client) // the key is never printed
	// Output: kryptogo.Client{BaseURL: "https://external-api.kryptogo.com", APIKey: "[REDACTED]"}
}

func ExampleKYAService_Create() {
	srv := kryptogotest.NewServer(kryptogotest.WithSanctionedAddresses("0x72a5843cc08275c8171e582972aa4fda8c397b2a"))
	defer srv.Close()
	client := srv.Client()

	res, err := client.KYA.Create(context.Background(), &kryptogo.CreateKYARequest{
		Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A", // the chain (eth) is detected
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("KYA %d: %d sanctions-list match(es)\n", res.KYAID, res.SDNCount())
	// Output: KYA 1: 1 sanctions-list match(es)
}

func ExampleTaskService_Create() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	srv.SetTargetRisk("Jane Roe", kryptogotest.TaskOutcome{PotentialRisk: 51})
	client := srv.Client()
	ctx := context.Background()

	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{
		SearchSettingID:   2,
		Target:            kryptogo.KYCTarget("Jane Roe", "1985-01-31", "TWN"),
		CustomerReference: "customer-42",
	}})
	if err != nil {
		log.Fatal(err)
	}
	summary, err := client.Tasks.Wait(ctx, created[0].TaskID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("task %d: risk %d (%s)\n", summary.TaskID, summary.Report.PotentialRisk, summary.Report.Rating())

	if _, err := client.Tasks.Accept(ctx, summary.TaskID, "news unrelated to the customer"); err != nil {
		log.Fatal(err)
	}
	_, err = client.Tasks.Reject(ctx, summary.TaskID, "second thoughts")
	fmt.Println("second decision refused:", errors.Is(err, kryptogo.ErrConflict))
	// Output:
	// task 1: risk 51 (Medium)
	// second decision refused: true
}

func ExampleTaskService_All() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	client := srv.Client()
	ctx := context.Background()
	for _, name := range []string{"Alpha Ltd.", "Beta Ltd.", "Gamma Ltd."} {
		_, _ = client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{SearchSettingID: 1, Target: kryptogo.KYBTarget(name), CustomerReference: "c7"}})
	}

	for task, err := range client.Tasks.All(ctx, &kryptogo.HistoryOptions{PageSize: 2, CustomerReference: "c7"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(task.TaskID, task.Target.Name)
	}
	// Output:
	// 3 Gamma Ltd.
	// 2 Beta Ltd.
	// 1 Alpha Ltd.
}

func ExampleIDVService_Create() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	client := srv.Client()
	ctx := context.Background()

	var photo bytes.Buffer
	_ = png.Encode(&photo, image.NewGray(image.Rect(0, 0, 640, 400)))
	created, err := client.IDV.Create(ctx, &kryptogo.CreateIDVRequest{
		Country:   "JPN",
		IDType:    kryptogo.IDTypePassport,
		IDImage:   kryptogo.ImageFromBytes(photo.Bytes()), // or ImageFromFile("passport.jpg")
		FaceImage: kryptogo.ImageFromBytes(photo.Bytes()),
	})
	if err != nil {
		log.Fatal(err)
	}
	task, err := client.IDV.Wait(ctx, created.IDVTaskID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.IDVTaskID, task.State, task.AuditStatus)
	// Output: 1 Accept Accepted
}

func ExampleIDVService_InitWeb() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	client := srv.Client()

	session, err := client.IDV.InitWeb(context.Background(), &kryptogo.InitWebIDVRequest{
		IDType:            kryptogo.IDTypeIDCard,
		WorkflowID:        kryptogo.WorkflowIDAndIdentity,
		Country:           "TWN",
		CustomerReference: "customer-42",
		Locale:            "zh-HK",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("send the customer to the session URL of IDV task", session.IDVTaskID)
	// Output: send the customer to the session URL of IDV task 1
}

func ExampleValidationError() {
	client, _ := kryptogo.NewClient("your-api-key")
	_, err := client.IDV.InitWeb(context.Background(), &kryptogo.InitWebIDVRequest{
		IDType: "ID", WorkflowID: 3, Country: "Taiwan", CustomerReference: "c1",
	})
	var verr *kryptogo.ValidationError
	if errors.As(err, &verr) { // nothing was sent
		for _, f := range verr.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// id_type: must be PASSPORT, DRIVING_LICENSE or ID_CARD
	// workflow_id: 3 must be 100, 101, 102, 200, 201 or 202
	// country: is not an ISO 3166-1 alpha-3 country code (e.g. TWN, USA)
}

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

func ExampleWithResponseInfo() {
	srv := kryptogotest.NewServer()
	defer srv.Close()
	client := srv.Client()
	ctx := context.Background()

	// The request id of a successful call, for an audit trail.
	var info kryptogo.ResponseInfo
	created, err := client.Tasks.CreateOne(ctx, kryptogo.CreateTaskRequest{
		SearchSettingID:   2,
		Target:            kryptogo.KYBTarget("Acme Trading Ltd"),
		CustomerReference: "customer-42",
	}, kryptogo.WithResponseInfo(&info))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("task %d created: %d, request id %s\n", created.TaskID, info.StatusCode, info.RequestID)

	// The same for a failed call; other options apply to this call only.
	_, err = client.Tasks.Summary(ctx, 999,
		kryptogo.WithResponseInfo(&info),
		kryptogo.WithTimeout(5*time.Second),
		kryptogo.WithMaxRetries(0),
	)
	fmt.Println(errors.Is(err, kryptogo.ErrNotFound), info.StatusCode, info.RequestID)
	// Output:
	// task 1 created: 200, request id kryptogotest-1
	// true 404 kryptogotest-2
}
