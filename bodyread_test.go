package kryptogo

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stalling returns no byte and no error, forever: a broken reader.
type stalling struct{}

func (stalling) Read([]byte) (int, error) { return 0, nil }

// TestReadBody covers each way readBody reads (see bodyread.go): a small
// declared length, a staged one (in one buffer, and in pooled blocks), an
// unknown length, and an answer over its limit.
func TestReadBody(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("0123456789", 10_000)      // 100 000 bytes: several pooled blocks
	long := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	small, mid, large := long[:40<<10], long[:300<<10], long[:2<<20]
	for _, tc := range []struct {
		name          string
		r             io.Reader
		length, limit int64
		want          string
		truncated     bool
		err           error
	}{
		{"known length", strings.NewReader(text), int64(len(text)), 1 << 20, text, false, nil},
		{"unknown length", hiddenLength{strings.NewReader(text)}, -1, 1 << 20, text, false, nil},
		{"empty", strings.NewReader(""), 0, 10, "", false, nil},
		{"empty, unknown length", hiddenLength{strings.NewReader("")}, -1, 10, "", false, nil},
		{"exactly the limit", hiddenLength{strings.NewReader(text)}, -1, int64(len(text)), text, false, nil},
		{"one byte over", hiddenLength{strings.NewReader(text)}, -1, int64(len(text)) - 1, text[:len(text)-1], true, nil},
		{"declared over the limit: the window read", strings.NewReader(text), int64(len(text)), 10, text[:10], true, nil},
		{"shorter than declared", strings.NewReader("{}"), 100, 1 << 20, "{}", false, io.ErrUnexpectedEOF},
		{"declared 2^60 under an absurd limit", strings.NewReader("{}"), 1 << 60, 1 << 62, "{}", false, io.ErrUnexpectedEOF},
		{"declared length a lie, over the limit", strings.NewReader(text), 100, 10, text[:10], true, nil},
		{"broken mid-way", hiddenLength{io.MultiReader(strings.NewReader(text[:50_000]), iotest.ErrReader(io.ErrClosedPipe))}, -1, 1 << 20,
			text[:50_000], false, io.ErrClosedPipe},
		{"small, declared", strings.NewReader(small), int64(len(small)), 1 << 30, small, false, nil},
		{"staged in one buffer", strings.NewReader(mid), int64(len(mid)), 1 << 30, mid, false, nil},
		{"staged in blocks", strings.NewReader(large), int64(len(large)), 1 << 30, large, false, nil},
		{"small, the end with the last bytes", iotest.DataErrReader(strings.NewReader(small)), int64(len(small)), 1 << 30, small, false, nil},
		{"staged, the end with the last bytes", iotest.DataErrReader(strings.NewReader(mid)), int64(len(mid)), 1 << 30, mid, false, nil},
		{"unknown, the end with the last bytes", iotest.DataErrReader(strings.NewReader(mid)), -1, 1 << 30, mid, false, nil},
		{"staged, one byte at a time", iotest.OneByteReader(strings.NewReader(mid)), int64(len(mid)), 1 << 30, mid, false, nil},
		{"staged, shorter than declared", strings.NewReader(mid), int64(len(mid)) + 1, 1 << 30, mid, false, io.ErrUnexpectedEOF},
		{"staged, ends within the stage", strings.NewReader(large[:10]), int64(len(large)), 1 << 30, large[:10], false, io.ErrUnexpectedEOF},
		{"staged, broken within the stage", io.MultiReader(strings.NewReader(large[:40<<10]), iotest.ErrReader(io.ErrClosedPipe)),
			int64(len(large)), 1 << 30, large[:40<<10], false, io.ErrClosedPipe},
		{"longer than declared", strings.NewReader(mid), 100, 1 << 30, mid, false, nil},
		{"longer than declared, over the limit", strings.NewReader(mid), 100, 200, mid[:200], true, nil},
		{"unknown length, on a block's boundary", hiddenLength{strings.NewReader(long[:64<<10])}, -1, 1 << 30, long[:64<<10], false, nil},
		{"over a large limit: the whole window", hiddenLength{strings.NewReader(long)}, -1, 2 << 20, long[:2<<20], true, nil},
		{"over a small limit: the whole window", hiddenLength{strings.NewReader(long)}, -1, 100 << 10, long[:100<<10], true, nil},
		{"over a limit of whole blocks", hiddenLength{strings.NewReader(long)}, -1, 4 * bodyBlock, long[:4*bodyBlock], true, nil},
		{"exactly a limit of whole blocks", hiddenLength{strings.NewReader(long[:4*bodyBlock])}, -1, 4 * bodyBlock, long[:4*bodyBlock], false, nil},
		{"a reader that makes no progress", stalling{}, -1, 1 << 20, "", false, io.ErrNoProgress},
		{"declared, no progress", stalling{}, int64(len(mid)), 1 << 30, "", false, io.ErrNoProgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, truncated, err := readBody(tc.r, tc.length, wholeCap(tc.limit))
			assert.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.truncated, truncated)
			assert.Equal(t, len(tc.want), len(body))
			assert.True(t, tc.want == string(body), "the body read is the answer's")
		})
	}
}

// TestBlockPoolKeepsOneAnswer: the pool keeps at most the limit of the
// read that gives its blocks back (four concurrent over-cap answers give
// back four caps' worth), and empties after two collections without use.
// TestReadBodyKeepsTheHeadAsked: of an answer over its limit, only the
// head its reader keeps is copied out (a 2xx over the cap is told by its
// shape), whether its length was declared or not.
func TestReadBodyKeepsTheHeadAsked(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	for name, r := range map[string]io.Reader{
		"unknown length":        hiddenLength{strings.NewReader(long)},
		"longer than declared":  strings.NewReader(long),
		"one byte at a time":    hiddenLength{iotest.OneByteReader(strings.NewReader(long[:300<<10]))},
		"the end with the last": hiddenLength{iotest.DataErrReader(strings.NewReader(long))},
	} {
		t.Run(name, func(t *testing.T) {
			length := int64(-1)
			if name == "longer than declared" {
				length = 100
			}
			body, truncated, err := readBody(r, length, bodyCap{limit: 256 << 10, keep: 512})
			require.NoError(t, err)
			assert.True(t, truncated)
			assert.Equal(t, long[:512], string(body))
		})
	}
	t.Run("declared over the limit: not read", func(t *testing.T) {
		r := strings.NewReader(long)
		body, truncated, err := readBody(r, int64(len(long)), bodyCap{limit: 256 << 10, keep: 512})
		require.NoError(t, err)
		assert.True(t, truncated)
		assert.Empty(t, body)
		assert.Equal(t, len(long), r.Len(), "nothing was read")
	})
}

func TestBlockPoolKeepsOneAnswer(t *testing.T) {
	t.Parallel()
	const limit = 16 << 20
	p := newBlockPool() // its own pool: the package's is shared by parallel tests
	for range 4 {
		list := make([]*block, limit/bodyBlock+1)
		for i := range list {
			list[i] = p.get()
		}
		p.put(list, limit)
	}
	pooled, cycles := p.pooled()
	assert.LessOrEqual(t, pooled, int64(limit), "after four answers")
	p.put([]*block{p.get()}, 1<<10) // a small read gives back nothing beyond its limit
	afterSmall, _ := p.pooled()
	assert.LessOrEqual(t, afterSmall, pooled)

	collect := func(after int) (int64, int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			runtime.GC()
			bytes, n := p.pooled()
			if n >= after || time.Now().After(deadline) {
				return bytes, n
			}
			time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
		}
	}
	kept, n := collect(cycles + 1)
	require.GreaterOrEqual(t, n, cycles+1, "the pool saw a collection")
	assert.LessOrEqual(t, kept, int64(limit), "after one collection")
	kept, n = collect(n + 1)
	require.GreaterOrEqual(t, n, cycles+2)
	assert.Zero(t, kept, "after two collections without use")
}
