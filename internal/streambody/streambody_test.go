package streambody

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sourceOf(b []byte, opened *int) Source {
	return func() (io.ReadCloser, error) {
		if opened != nil {
			*opened++
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func TestBodyEncodesSourcesBetweenLiterals(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 2, 3, 4, chunk - 1, chunk, chunk + 1, 5*chunk + 2} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			raw := make([]byte, size)
			_, _ = rand.Read(raw)
			var b Body
			b.Literal([]byte(`{"img":"`))
			b.Base64(int64(size), sourceOf(raw, nil))
			b.Literal([]byte(`"}`))

			want := `{"img":"` + base64.StdEncoding.EncodeToString(raw) + `"}`
			for attempt := 0; attempt < 2; attempt++ { // a body can be replayed
				got, err := io.ReadAll(b.Open())
				require.NoError(t, err, "size %d", size)
				assert.Equal(t, want, string(got), "size %d", size)
			}
			assert.Equal(t, int64(len(want)), b.Len(), "size %d", size)
		})
	}
}

func TestBodyOpensSourcesLazily(t *testing.T) {
	t.Parallel()
	opened := 0
	var b Body
	b.Literal([]byte("abc"))
	b.Base64(3, sourceOf([]byte("xyz"), &opened))
	r := b.Open()
	buf := make([]byte, 3)
	_, err := io.ReadFull(r, buf)
	require.NoError(t, err)
	assert.Equal(t, 0, opened, "source not opened before it is reached")
	_, err = io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, 1, opened)
}

func TestBodySizeMismatch(t *testing.T) {
	t.Parallel()
	var short Body
	short.Base64(10, sourceOf([]byte("abc"), nil))
	_, err := io.ReadAll(short.Open())
	assert.ErrorContains(t, err, "ended 7 bytes early")

	var long Body
	long.Base64(3, sourceOf([]byte("abcdef"), nil))
	_, err = io.ReadAll(long.Open())
	assert.ErrorContains(t, err, "longer than its declared size")
}

func TestBodyOpenError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var b Body
	b.Literal([]byte("x"))
	b.Base64(1, func() (io.ReadCloser, error) { return nil, boom })
	_, err := io.ReadAll(b.Open())
	assert.ErrorIs(t, err, boom)
}

type trackingCloser struct {
	io.Reader
	closed bool
}

func (c *trackingCloser) Close() error { c.closed = true; return nil }

func TestBodyCloseReleasesSource(t *testing.T) {
	t.Parallel()
	src := &trackingCloser{Reader: bytes.NewReader(make([]byte, 4*chunk))}
	var b Body
	b.Base64(4*chunk, func() (io.ReadCloser, error) { return src, nil })
	r := b.Open()
	_, err := r.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.True(t, src.closed)
	_, err = r.Read(make([]byte, 10))
	assert.Error(t, err)
}

func TestEncodedLen(t *testing.T) {
	t.Parallel()
	for n := int64(0); n < 20; n++ {
		assert.Equal(t, int64(base64.StdEncoding.EncodedLen(int(n))), EncodedLen(n))
	}
}
