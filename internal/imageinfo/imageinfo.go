// Package imageinfo reads an image's type and pixel size from its header,
// without decoding the pixels.
package imageinfo

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
)

// The MIME types the KryptoGO API takes.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
)

// Info describes an image.
type Info struct {
	MIME          string // sniffed from the content
	Width, Height int
}

// sniffLen is how much net/http's content sniffing looks at.
const sniffLen = 512

// Inspect sniffs the content type from the first bytes of r and reads the
// pixel size from the JPEG or PNG header. Any other type is an error naming it.
func Inspect(r io.Reader) (Info, error) {
	br := bufio.NewReaderSize(r, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return Info{}, err
	}
	if len(head) == 0 {
		return Info{}, errors.New("is empty")
	}
	mime := http.DetectContentType(head)
	var cfg image.Config
	switch mime {
	case JPEG:
		cfg, err = jpeg.DecodeConfig(br)
	case PNG:
		cfg, err = png.DecodeConfig(br)
	default:
		return Info{MIME: mime}, fmt.Errorf("is %s; the API takes image/jpeg or image/png", mime)
	}
	if err != nil {
		return Info{MIME: mime}, fmt.Errorf("is not a readable %s image: %v", mime, err)
	}
	return Info{MIME: mime, Width: cfg.Width, Height: cfg.Height}, nil
}
