package kryptogo

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImagePixelBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w, h int
		ok   bool
	}{
		{301, 10, true}, {10, 301, true}, {7999, 7999, true},
		{300, 300, false}, {8000, 10, false}, {10, 8000, false},
	} {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			var v validator
			p := ImageFromBytes(pngHeader(tc.w, tc.h)).prepare(&v, "id_image", "id_mime_type")
			if tc.ok {
				assert.NoError(t, v.err(), "%dx%d", tc.w, tc.h)
				require.NotNil(t, p)
				assert.Equal(t, "image/png", p.mime)
			} else {
				assert.Equal(t, []string{"id_image"}, fieldsOf(t, v.err()), "%dx%d", tc.w, tc.h)
			}
		})
	}
}

// pngHeader returns the start of a PNG of the given size: enough for the
// header checks, without building the pixels.
func pngHeader(w, h int) []byte {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	// The IHDR chunk holds the width and height at bytes 16-23; png's
	// DecodeConfig checks the CRC, so rebuild the chunk.
	ihdr := append([]byte("IHDR"), b[16:29]...)
	putUint32(ihdr[4:], uint32(w))
	putUint32(ihdr[8:], uint32(h))
	out := append([]byte(nil), b[:12]...)
	out = append(out, ihdr...)
	crc := crc32IEEE(ihdr)
	out = append(out, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
	return append(out, b[33:]...)
}

func TestImageStringNeverShowsContent(t *testing.T) {
	t.Parallel()
	secret := testJPEG(t, 640, 400)
	imgs := []*Image{ImageFromBytes(secret), ImageFromBase64(b64(secret)), ImageFromFile("/secret/dir/passport.jpg")}
	for _, img := range imgs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			out := fmt.Sprintf(verb, img)
			assert.NotContains(t, out, b64(secret)[:20], verb)
			assert.NotContains(t, out, "/secret/dir", verb)
		}
	}
	assert.Equal(t, fmt.Sprintf("Image(%d bytes)", len(secret)), fmt.Sprint(imgs[0]))
	assert.Equal(t, "Image(file)", fmt.Sprint(imgs[2]))

	req := &CreateIDVRequest{Country: "TWN", IDType: IDTypeIDCard, ExpectedName: "王又曾", ExpectedIDNumber: "A123456789", IDImage: imgs[0]}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, req)
		assert.NotContains(t, out, "王又曾", verb)
		assert.NotContains(t, out, "A123456789", verb)
	}
}

// TestImageFileErrorsHideThePath: a file path names the person
// ("jane_doe_passport.jpg"); no error about the file repeats it, and
// errors.Is still finds the cause.
func TestImageFileErrorsHideThePath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "jane_doe")
	require.NoError(t, os.Mkdir(dir, 0o700))
	tests := map[string]struct {
		path string
		want string
		is   error
	}{
		"missing":   {filepath.Join(dir, "jane_doe_passport.jpg"), "file not found", fs.ErrNotExist},
		"directory": {dir, "file cannot be read", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := ImageFromFile(tc.path)
			err := openAndRead(img)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "jane_doe")
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			var pathErr *fs.PathError
			assert.False(t, errors.As(err, &pathErr), "a *PathError carries the path")

			v := &validator{}
			assert.Nil(t, img.prepare(v, "id_image", "id_image_mime"))
			require.Len(t, v.fields, 1)
			assert.Contains(t, v.fields[0].Message, tc.want)
			assert.NotContains(t, v.fields[0].Message, "jane_doe")
			assert.Equal(t, "Image(file)", fmt.Sprint(img))
		})
	}
}

// openAndRead opens img and reads it through, returning the first error.
func openAndRead(img *Image) error {
	rc, err := img.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}
