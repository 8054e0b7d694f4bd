package kryptogo

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"
)

// benchImage is a 3 MiB "photo": a real PNG header (the checks read only
// the header) followed by incompressible bytes.
func benchImage(b *testing.B) []byte {
	img := pngHeader(2400, 1600)
	pad := make([]byte, 3<<20)
	_, _ = rand.Read(pad)
	return append(img, pad...)
}

// BenchmarkIDVCreateBody compares the streamed request body of IDV.Create
// with the baseline of building it in memory (base64 strings in a struct,
// then json.Marshal), for four 3 MiB images. The streamed body should
// allocate a small constant, the baseline several times the images' size:
//
//	go test -bench IDVCreateBody -benchmem -run '^$' .
func BenchmarkIDVCreateBody(b *testing.B) {
	img := benchImage(b)
	req := &CreateIDVRequest{
		Country: "TWN", IDType: IDTypeIDCard,
		IDImage: ImageFromBytes(img), IDBackImage: ImageFromBytes(img),
		FaceImage: ImageFromBytes(img), IDAndFaceImage: ImageFromBytes(img),
	}
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(4 * len(img)))
		for b.Loop() {
			body, err := req.body()
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, body.open())
			if err != nil || n != body.length {
				b.Fatalf("copied %d of %d bytes: %v", n, body.length, err)
			}
		}
	})
	b.Run("baseline_marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(4 * len(img)))
		for b.Loop() {
			enc := base64.StdEncoding.EncodeToString(img)
			out, err := json.Marshal(map[string]string{
				"country": "TWN", "id_type": "ID_CARD",
				"id_image": enc, "id_back_image": enc, "face_image": enc, "id_and_face_image": enc,
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, bytes.NewReader(out)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
