package kryptogo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// rawServer answers every connection with reply once the request headers
// have arrived: a server (or proxy) that does not speak HTTP properly.
func rawServer(t *testing.T, reply func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				reply(conn)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// syncBuffer is a log sink safe for the transport's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// debugJSONLogger logs everything, as JSON, into the returned buffer.
func debugJSONLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// printed is every printing of the values a user might log.
func printed(vs ...any) string {
	var b strings.Builder
	for _, v := range vs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			fmt.Fprintf(&b, verb+"\n", v)
		}
	}
	return b.String()
}

// Review of issue 8, finding 1: net/http quotes a malformed answer in its
// error ("malformed HTTP response \"<key>\""), and the client passed that
// text on to errors and debug logs.
func TestTransportErrorsNeverCarryTheKey(t *testing.T) {
	for name, reply := range map[string]string{
		"status line":            testKey + "\r\n\r\n",
		"status code":            "HTTP/1.1 " + testKey + " OK\r\n\r\n",
		"header line":            "HTTP/1.1 200 OK\r\nX-Debug-Token " + testKey + "\r\n\r\n",
		"version":                "HTTP/" + testKey + " 200 OK\r\n\r\n",
		"content-length":         "HTTP/1.1 200 OK\r\nContent-Length: " + testKey + "\r\n\r\n",
		"transfer-encoding":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + testKey + "\r\n\r\n",
		"chunk size":             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + testKey + "\r\n",
		"header name with space": "HTTP/1.1 200 OK\r\nRequest Header GOFACT-API-TOKEN: " + testKey + "\r\n\r\n",
		"echo server":            "GET /task/1/summary HTTP/1.1\r\nGOFACT-API-TOKEN: " + testKey + "\r\n\r\n",
		"double length":          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: " + testKey + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			url := rawServer(t, func(c net.Conn) { _, _ = io.WriteString(c, reply) })
			logger, logs := debugJSONLogger()
			c, err := NewClient(testKey, WithBaseURL(url), WithLogger(logger), WithMaxRetries(0))
			require.NoError(t, err)
			_, getErr := c.Tasks.Summary(context.Background(), 1)
			_, postErr := c.Tasks.Create(context.Background(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
			require.Error(t, getErr)
			require.Error(t, postErr)
			assertNoKey(t, printed(getErr, postErr), testKey)
			assertNoKey(t, logs.String(), testKey)
		})
	}
}
