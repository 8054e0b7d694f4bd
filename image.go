package kryptogo

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/check"
	"github.com/kyabc/kryptogo-go/internal/imageinfo"
)

// Image limits of the API reference, checked before sending.
const (
	MaxImageBytes       = 15 << 20 // 15 MB
	MaxImageSide        = 7999     // pixels: each side must be under 8000
	MinImageLongestSide = 301      // pixels: the longest side must be over 300
)

type imageSource int

const (
	fromBytes imageSource = iota
	fromFile
	fromBase64
)

// Image is a document or face image to upload; immutable and safe to share.
// Its type (JPEG or PNG), size and pixels are checked before sending.
type Image struct {
	source imageSource
	data   []byte // fromBytes
	path   string // fromFile
	b64    string // fromBase64
	mime   string // from WithMIMEType or a data: URI
}

// ImageFromBytes returns an image of b, which is not copied.
func ImageFromBytes(b []byte) *Image { return &Image{source: fromBytes, data: b} }

// ImageFromFile returns an image read from path at each send; an unreadable
// file is a *ValidationError.
func ImageFromFile(path string) *Image { return &Image{source: fromFile, path: path} }

// ImageFromBase64 returns an image of standard base64 text or a data: URI.
func ImageFromBase64(s string) *Image {
	img := &Image{source: fromBase64, b64: strings.TrimSpace(s)}
	if rest, ok := strings.CutPrefix(img.b64, "data:"); ok {
		if meta, payload, ok := strings.Cut(rest, ","); ok && strings.HasSuffix(meta, ";base64") {
			img.mime = strings.TrimSuffix(meta, ";base64")
			img.b64 = payload
		}
	}
	return img
}

// WithMIMEType returns a copy declared as mime, which must match the content.
func (img *Image) WithMIMEType(mime string) *Image {
	cp := *img
	cp.mime = mime
	return &cp
}

// describe names the image by its source, never by its content nor its
// file's name (which often names the person).
func (img Image) describe() string {
	switch img.source {
	case fromFile:
		return "Image(file)"
	case fromBase64:
		return "Image(" + strconv.Itoa(len(img.b64)) + " base64 characters)"
	default:
		return "Image(" + strconv.Itoa(len(img.data)) + " bytes)"
	}
}

// Format prints the image's source and size, never its bytes.
func (img Image) Format(f fmt.State, verb rune) { formatText(f, verb, img.describe()) }

// LogValue logs the image as Format prints it.
func (img Image) LogValue() slog.Value { return slog.StringValue(img.describe()) }

func (img *Image) open() (io.ReadCloser, error) {
	switch img.source {
	case fromFile:
		f, err := os.Open(img.path)
		if err != nil {
			return nil, fileError(err)
		}
		return pathlessFile{f}, nil
	case fromBase64:
		return io.NopCloser(base64.NewDecoder(base64.StdEncoding, strings.NewReader(img.b64))), nil
	default:
		return io.NopCloser(bytes.NewReader(img.data)), nil
	}
}

// preparedImage is an image that passed the checks, ready to stream.
type preparedImage struct {
	img  *Image
	size int64
	mime string
}

// prepare checks the image against the API's limits and records every
// broken rule against field (the image) and mimeField (its type).
func (img *Image) prepare(v *validator, field, mimeField string) *preparedImage {
	size, info, err := img.inspect()
	if err != nil {
		v.add(field, err.Error())
		return nil
	}
	ok := true
	fail := func(f, msg string) { v.add(f, msg); ok = false }
	if size > MaxImageBytes {
		fail(field, fmt.Sprintf("is %.1f MB; the API takes at most 15 MB", float64(size)/(1<<20)))
	}
	if info.Width > MaxImageSide || info.Height > MaxImageSide {
		fail(field, fmt.Sprintf("is %dx%d pixels; each side must be under 8000", info.Width, info.Height))
	}
	if max(info.Width, info.Height) < MinImageLongestSide {
		fail(field, fmt.Sprintf("is %dx%d pixels; the longest side must be over 300", info.Width, info.Height))
	}
	if img.mime != "" {
		if msg := check.MIMEType(img.mime); msg != "" {
			fail(mimeField, msg)
		} else if img.mime != info.MIME {
			fail(mimeField, fmt.Sprintf("is declared %s but the image is %s", img.mime, info.MIME))
		}
	}
	if !ok {
		return nil
	}
	return &preparedImage{img: img, size: size, mime: info.MIME}
}

// inspect reads the image's header for its type and pixels, and its size.
func (img *Image) inspect() (int64, imageinfo.Info, error) {
	rc, err := img.open()
	if err != nil {
		return 0, imageinfo.Info{}, fmt.Errorf("cannot read image: %v", err)
	}
	defer rc.Close()
	counted := &countingReader{r: rc}
	info, err := imageinfo.Inspect(counted)
	if err != nil {
		return 0, info, fmt.Errorf("image %v", err)
	}
	switch img.source {
	case fromBytes:
		return int64(len(img.data)), info, nil
	case fromFile:
		st, err := os.Stat(img.path)
		if err != nil {
			return 0, info, fmt.Errorf("cannot read image: %w", fileError(err))
		}
		return st.Size(), info, nil
	default:
		// Decoding the rest proves the base64 is valid and gives the size.
		if _, err := io.Copy(io.Discard, counted); err != nil {
			return 0, info, fmt.Errorf("is not valid base64: %v", err)
		}
		return counted.n, info, nil
	}
}

// pathlessFile is an image file whose read errors do not name the file.
type pathlessFile struct{ f *os.File }

// Read reads from the file; see fileError.
func (p pathlessFile) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	if err != nil && err != io.EOF {
		err = fileError(err)
	}
	return n, err
}

// Close closes the file.
func (p pathlessFile) Close() error { return p.f.Close() }

// fileError replaces an image file's error, whose text holds the path
// (os errors do: "open /uploads/jane_doe_passport.jpg: ..."), with fixed
// text. It wraps the cause without its *fs.PathError, so errors.Is still
// matches fs.ErrNotExist or fs.ErrPermission.
func fileError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &imageFileError{text: "file not found", err: err}
	case errors.Is(err, fs.ErrPermission):
		return &imageFileError{text: "file not readable: permission denied", err: err}
	default:
		return &imageFileError{text: "file cannot be read", err: err}
	}
}

// imageFileError is an image file's error without the file's path.
type imageFileError struct {
	text string
	err  error
}

// Error returns the fixed text.
func (e *imageFileError) Error() string { return e.text }

// Unwrap returns the cause, without its path.
func (e *imageFileError) Unwrap() error { return e.err }

type countingReader struct {
	r io.Reader
	n int64
}

// Read reads from the wrapped reader and counts the bytes.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
