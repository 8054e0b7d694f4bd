package kryptogo

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// HTTP/2 frame types and flags (RFC 9113 §6) the raw server needs.
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2RSTStream    = 0x3
	h2Settings     = 0x4
	h2Ping         = 0x6
	h2GoAway       = 0x7
	h2FlagEnd      = 0x1 // END_STREAM on DATA/HEADERS, ACK on SETTINGS/PING
	h2Protocol     = 0x1 // PROTOCOL_ERROR
	h2ClientPrefix = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// h2Fault is how the raw server answers a request whose body it has read.
type h2Fault int

const (
	h2ResetProtocol h2Fault = iota // RST_STREAM PROTOCOL_ERROR: net/http's h2 retries it when it can rewind the body
	h2GoAwayClose                  // GOAWAY naming the stream as processed, then close
)

// newRawH2Server starts a TLS server that speaks just enough HTTP/2 to
// read whole requests and then fail them with fault; seen counts the
// requests whose body it read. The standard server cannot send these
// faults, and a handler's panic resets with INTERNAL_ERROR, which net/http
// does not retry.
func newRawH2Server(t *testing.T, fault h2Fault, seen *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.EnableHTTP2 = true
	srv.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		"h2": func(_ *http.Server, conn *tls.Conn, _ http.Handler) { serveRawH2(conn, fault, seen) },
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func serveRawH2(conn *tls.Conn, fault h2Fault, seen *atomic.Int32) {
	r := bufio.NewReader(conn)
	preface := make([]byte, len(h2ClientPrefix))
	if _, err := io.ReadFull(r, preface); err != nil || string(preface) != h2ClientPrefix {
		return
	}
	writeH2Frame(conn, h2Settings, 0, 0, nil)
	for {
		typ, flags, stream, payload, err := readH2Frame(r)
		if err != nil {
			return
		}
		switch {
		case typ == h2Settings && flags&h2FlagEnd == 0:
			writeH2Frame(conn, h2Settings, h2FlagEnd, 0, nil)
		case typ == h2Ping && flags&h2FlagEnd == 0:
			writeH2Frame(conn, h2Ping, h2FlagEnd, 0, payload)
		case (typ == h2Headers || typ == h2Data) && flags&h2FlagEnd != 0:
			seen.Add(1) // the whole request, body included, has arrived
			if fault == h2GoAwayClose {
				writeH2Frame(conn, h2GoAway, 0, 0, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, stream), h2Protocol))
				return
			}
			writeH2Frame(conn, h2RSTStream, 0, stream, binary.BigEndian.AppendUint32(nil, h2Protocol))
		}
	}
}

func readH2Frame(r io.Reader) (typ, flags byte, stream uint32, payload []byte, err error) {
	var head [9]byte
	if _, err = io.ReadFull(r, head[:]); err != nil {
		return 0, 0, 0, nil, err
	}
	length := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
	payload = make([]byte, length)
	_, err = io.ReadFull(r, payload)
	return head[3], head[4], binary.BigEndian.Uint32(head[5:]) & 0x7fffffff, payload, err
}

func writeH2Frame(w io.Writer, typ, flags byte, stream uint32, payload []byte) {
	head := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
	head = binary.BigEndian.AppendUint32(head, stream)
	_, _ = w.Write(append(head, payload...))
}
