// Command idv-upload verifies an identity document from image files: it
// creates an IDV task, waits for the result, and prints the state and the
// reasons for a review or a rejection.
//
//	go run ./examples/idv-upload                                   # the sample images
//	go run ./examples/idv-upload -type ID_CARD -country TWN \
//	  -front front.jpg -back back.jpg -face selfie.jpg
//
// Without KRYPTOGO_API_KEY it runs against an in-process fake of the API.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "idv-upload:", err)
		os.Exit(1)
	}
}

// sample returns the path of a sample image shipped beside this file.
func sample(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

func run(ctx context.Context, out io.Writer, args []string) error {
	flags := flag.NewFlagSet("idv-upload", flag.ContinueOnError)
	idType := flags.String("type", "PASSPORT", "document type: PASSPORT, DRIVING_LICENSE or ID_CARD")
	country := flags.String("country", "JPN", "issuing country, ISO 3166-1 alpha-3")
	front := flags.String("front", sample("passport.jpg"), "image of the document's front")
	back := flags.String("back", "", "image of the document's back (required for ID_CARD)")
	face := flags.String("face", sample("selfie.png"), "selfie of the document's holder")
	if err := flags.Parse(args); err != nil {
		return err
	}
	env, err := exampleenv.New(out)
	if err != nil {
		return err
	}
	defer env.Close()

	req := &kryptogo.CreateIDVRequest{
		Country:           *country,
		IDType:            kryptogo.IDType(*idType),
		IDImage:           kryptogo.ImageFromFile(*front), // type, size and pixels are checked before sending
		FaceImage:         kryptogo.ImageFromFile(*face),
		CustomerReference: "customer-42",
	}
	if *back != "" {
		req.IDBackImage = kryptogo.ImageFromFile(*back)
	}
	created, err := env.Client.IDV.Create(ctx, req)
	if err != nil {
		return err // a *kryptogo.ValidationError names each bad field
	}
	fmt.Fprintf(out, "IDV task %d created; waiting for the result…\n", created.IDVTaskID)

	task, err := env.Client.IDV.Wait(ctx, created.IDVTaskID, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "state: %s (audit: %s)\n", task.State, task.AuditStatus)
	for _, r := range task.ReviewReasons {
		fmt.Fprintf(out, "review reason %d: %s\n", r.Code, r.Description)
	}
	for _, r := range task.RejectReasons {
		fmt.Fprintf(out, "reject reason %d: %s\n", r.Code, r.Description)
	}
	return nil
}
