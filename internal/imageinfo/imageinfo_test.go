package imageinfo

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func encode(t *testing.T, kind string, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	switch kind {
	case "png":
		require.NoError(t, png.Encode(&buf, img))
	case "jpeg":
		require.NoError(t, jpeg.Encode(&buf, img, nil))
	case "gif":
		require.NoError(t, gif.Encode(&buf, img, nil))
	}
	return buf.Bytes()
}

func TestInspect(t *testing.T) {
	t.Parallel()
	info, err := Inspect(bytes.NewReader(encode(t, "png", 640, 400)))
	require.NoError(t, err)
	assert.Equal(t, Info{MIME: PNG, Width: 640, Height: 400}, info)

	info, err = Inspect(bytes.NewReader(encode(t, "jpeg", 320, 900)))
	require.NoError(t, err)
	assert.Equal(t, Info{MIME: JPEG, Width: 320, Height: 900}, info)
}

func TestInspectRejects(t *testing.T) {
	t.Parallel()
	_, err := Inspect(bytes.NewReader(encode(t, "gif", 10, 10)))
	assert.EqualError(t, err, "is image/gif; the API takes image/jpeg or image/png")

	_, err = Inspect(bytes.NewReader(nil))
	assert.EqualError(t, err, "is empty")

	_, err = Inspect(bytes.NewReader([]byte("hello, not an image")))
	assert.ErrorContains(t, err, "text/plain")

	truncated := encode(t, "png", 640, 400)[:20]
	_, err = Inspect(bytes.NewReader(truncated))
	assert.ErrorContains(t, err, "is not a readable image/png image")
}
