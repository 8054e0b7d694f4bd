package kryptogo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

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
