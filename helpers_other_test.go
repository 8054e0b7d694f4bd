//go:build !unix

package kryptogo

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// refusingAddr returns a loopback address nothing listens on. Elsewhere
// than on Unix the port is released: a parallel test may, rarely, take it.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
