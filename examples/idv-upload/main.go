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
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
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

// The sample images are compiled in, so that the binary runs from any
// directory (go install, go build -trimpath), not only inside the repository.
var (
	//go:embed testdata/passport.jpg
	samplePassport []byte
	//go:embed testdata/selfie.png
	sampleSelfie []byte
)

// image returns the image in path, or the embedded sample when path is empty.
func image(path string, sample []byte) *kryptogo.Image {
	if path == "" {
		return kryptogo.ImageFromBytes(sample)
	}
	return kryptogo.ImageFromFile(path) // type, size and pixels are checked before sending
}

func run(ctx context.Context, out io.Writer, args []string) error {
	flags := flag.NewFlagSet("idv-upload", flag.ContinueOnError)
	idType := flags.String("type", "PASSPORT", "document type: PASSPORT, DRIVING_LICENSE or ID_CARD")
	country := flags.String("country", "JPN", "issuing country, ISO 3166-1 alpha-3")
	front := flags.String("front", "", "image of the document's front (default: a sample passport)")
	back := flags.String("back", "", "image of the document's back (required for ID_CARD)")
	face := flags.String("face", "", "selfie of the document's holder (default: a sample selfie)")
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
		IDImage:           image(*front, samplePassport),
		FaceImage:         image(*face, sampleSelfie),
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
