// Package streambody builds request bodies that embed large binary values
// (identity document images) as base64 JSON strings without holding an
// encoded copy in memory: the base64 text is produced while the body is read.
package streambody

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Source opens the raw bytes of one embedded value. It is called once per
// attempt, so a retried request reads the value again from the start.
type Source func() (io.ReadCloser, error)

type part struct {
	literal []byte
	source  Source
	size    int64 // raw size of source
}

// Body is a request body made of literal bytes and base64-encoded sources.
// Build it once; Open may then be called any number of times, concurrently.
type Body struct {
	parts []part
}

// Literal appends bytes sent as they are.
func (b *Body) Literal(p []byte) {
	b.parts = append(b.parts, part{literal: p})
}

// Base64 appends a source of size raw bytes, sent as standard base64 with
// padding. Reading fails if the source does not yield exactly size bytes.
func (b *Body) Base64(size int64, src Source) {
	b.parts = append(b.parts, part{source: src, size: size})
}

// Len returns the exact number of bytes Open yields.
func (b *Body) Len() int64 {
	var n int64
	for _, p := range b.parts {
		if p.source == nil {
			n += int64(len(p.literal))
			continue
		}
		n += EncodedLen(p.size)
	}
	return n
}

// EncodedLen returns the length of the padded base64 encoding of n bytes.
func EncodedLen(n int64) int64 { return (n + 2) / 3 * 4 }

// Open returns a reader of the whole body. Sources are opened only when the
// reader reaches them and closed when it leaves them or is closed.
func (b *Body) Open() io.ReadCloser {
	return &reader{parts: b.parts}
}

type reader struct {
	parts   []part
	current io.Reader
	closer  io.Closer
	err     error
}

// Read yields the parts in order, opening each source when reached.
func (r *reader) Read(p []byte) (int, error) {
	for r.err == nil {
		if r.current == nil {
			if len(r.parts) == 0 {
				return 0, io.EOF
			}
			r.err = r.next()
			continue
		}
		n, err := r.current.Read(p)
		if err == io.EOF {
			r.closeCurrent()
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			r.err = err
		}
		return n, err
	}
	return 0, r.err
}

func (r *reader) next() error {
	p := r.parts[0]
	r.parts = r.parts[1:]
	if p.source == nil {
		r.current = &literalReader{b: p.literal}
		return nil
	}
	rc, err := p.source()
	if err != nil {
		return fmt.Errorf("streambody: open source: %w", err)
	}
	r.current, r.closer = newEncoder(rc, p.size), rc
	return nil
}

func (r *reader) closeCurrent() {
	if r.closer != nil {
		_ = r.closer.Close()
	}
	r.current, r.closer = nil, nil
}

// Close releases the source being read, if any.
func (r *reader) Close() error {
	r.closeCurrent()
	if r.err == nil {
		r.err = errors.New("streambody: read after close")
	}
	return nil
}

type literalReader struct{ b []byte }

// Read copies out the literal bytes.
func (l *literalReader) Read(p []byte) (int, error) {
	if len(l.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.b)
	l.b = l.b[n:]
	return n, nil
}

// chunk is how many raw bytes are encoded at a time: a multiple of 3, so
// only the final chunk needs padding.
const chunk = 3 * 1024

// encoder reads raw bytes and yields their base64 encoding.
type encoder struct {
	src       io.Reader
	remaining int64 // raw bytes still expected from src
	raw       [chunk]byte
	enc       [chunk / 3 * 4]byte
	pending   []byte // encoded bytes not yet returned
}

func newEncoder(src io.Reader, size int64) *encoder {
	return &encoder{src: src, remaining: size}
}

// Read yields the base64 text of the source, a chunk at a time.
func (e *encoder) Read(p []byte) (int, error) {
	if len(e.pending) == 0 {
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

func (e *encoder) fill() error {
	want := int64(chunk)
	if e.remaining < want {
		want = e.remaining
	}
	if want == 0 {
		return e.expectEOF()
	}
	n, err := io.ReadFull(e.src, e.raw[:want])
	e.remaining -= int64(n)
	if err != nil {
		return fmt.Errorf("streambody: source ended %d bytes early: %w", e.remaining, err)
	}
	base64.StdEncoding.Encode(e.enc[:], e.raw[:n])
	e.pending = e.enc[:base64.StdEncoding.EncodedLen(n)]
	return nil
}

// expectEOF fails when the source holds more bytes than it was declared
// with: the request's Content-Length would be wrong.
func (e *encoder) expectEOF() error {
	var one [1]byte
	if n, _ := io.ReadFull(e.src, one[:]); n > 0 {
		return errors.New("streambody: source is longer than its declared size")
	}
	return io.EOF
}
