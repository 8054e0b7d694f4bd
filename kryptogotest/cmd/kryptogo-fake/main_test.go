package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServesUntilCanceled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(t.Context())
	var out syncBuffer
	done := make(chan error)
	go func() {
		done <- run(ctx, &out, []string{"-addr", addr, "-key", "k1", "-sanctioned", "0x72a5843cc08275c8171e582972aa4fda8c397b2a"})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "KRYPTOGO_API_KEY=k1") }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, out.String(), "fake KryptoGO API at http://"+addr)

	client, err := kryptogo.NewClient("k1", kryptogo.WithBaseURL("http://"+addr))
	require.NoError(t, err)
	res, err := client.KYA.Create(t.Context(), &kryptogo.CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.SDNCount())

	cancel()
	require.NoError(t, <-done)
}

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	assert.ErrorContains(t, run(t.Context(), &out, []string{"-complete", "later"}), "want now, delay or manual")
	assert.Error(t, run(t.Context(), &out, []string{"-unknown"}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.ErrorContains(t, run(t.Context(), &out, []string{"-addr", ln.Addr().String()}), "listen on")
	for _, mode := range []string{"now", "delay", "manual"} {
		_, err := completionOptions(mode, time.Second)
		assert.NoError(t, err, mode)
	}
}
