package kryptogo

// Tests that no error or log record of the request path carries the API key
// or a personal value the request sent (issue 8, transport and echo leaks).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawServer answers every connection with reply once the request headers
// have arrived: a server (or proxy) that does not speak HTTP properly.
func rawServer(t *testing.T, reply func(net.Conn)) string {
	t.Helper()
	return tcpServer(t, func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		reply(conn)
	})
}

// tcpServer serves each connection with serve, which need not close it,
// and returns the server's base URL.
func tcpServer(t *testing.T, serve func(net.Conn)) string {
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
				serve(conn)
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
	t.Parallel()
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
			_, getErr := c.Tasks.Summary(t.Context(), 1)
			_, postErr := c.Tasks.Create(t.Context(), []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("A")}})
			require.Error(t, getErr)
			require.Error(t, postErr)
			assertNoKey(t, printed(getErr, postErr), testKey)
			assertNoKey(t, logs.String(), testKey)
		})
	}
}

// Review of issue 8, finding 4: validation messages quoted the values they
// rejected (a birthday, a country, a gender), and validation errors are
// logged. They say what is expected instead.
func TestValidationErrorsQuoteNoValues(t *testing.T) {
	t.Parallel()
	c := offlineClient(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		call   func() error
		values []string
	}{
		{"task target", func() error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYCTarget("John Doe", "1987/07/14", "Taiwan")}})
			return err
		}, []string{"1987/07/14", "Taiwan"}},
		{"IDV create", func() error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "jpn", IDType: "VISA", ExpectedName: "John Doe",
				ExpectedBirthday: "14.07.1987", ExpectedIssuingDate: "2019-13-01", ExpectedExpiryDate: "31/12/2030", ExpectedGender: "Male"})
			return err
		}, []string{"14.07.1987", "2019-13-01", "31/12/2030", "Male", "jpn", "VISA"}},
		{"IDV web", func() error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{Country: "Formosa", IDType: IDTypeIDCard, WorkflowID: 100,
				ExpectedBirthday: "1987-7-14", CustomerReference: "c1", Locale: "klingon",
				TWIDApplyCode: ptr(1), TWIDApplyDate: "1071399", TWIDIssueSiteID: "77777"})
			return err
		}, []string{"1987-7-14", "Formosa", "klingon", "1071399", "77777"}},
		{"IDV mobile", func() error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", ExpectedBirthday: "07/14/1987",
				TWIDApplyCode: ptr(1), TWIDApplyDate: "87-7-14", TWIDIssueSiteID: "10001"})
			return err
		}, []string{"07/14/1987", "87-7-14"}},
		{"KYA address", func() error {
			_, err := c.KYA.Create(ctx, &CreateKYARequest{Address: "my-wallet-john-doe"})
			return err
		}, []string{"my-wallet-john-doe"}},
		{"Do path", func() error { return c.Do(ctx, "GET", "tasks?customer_reference=john.doe", nil, nil) }, []string{"john.doe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, ErrInvalidRequest)
			out := printed(err)
			for _, v := range tc.values {
				assert.NotContains(t, out, v)
			}
		})
	}
}

// Review of issue 8, finding 8: a 400 that echoes the submitted name or
// birthday carried it into APIError.Message, Body and Error(). The SDK
// masks the personal values it just sent, in every spelling it knows.
func TestAPIErrorMasksThePersonalValuesSent(t *testing.T) {
	t.Parallel()
	const name, birthday, idNumber = "John Doe", "1990-01-02", "A123456789"
	face := testPNG(t, 400, 400)
	calls := map[string]func(context.Context, *Client) error{
		"Tasks.Create": func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Acme")},
				{SearchSettingID: 1, Target: KYCTarget(name, birthday, "TWN")}})
			return err
		},
		"IDV.Create": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "JPN", IDType: IDTypePassport, IDImage: ImageFromBytes(face),
				FaceImage: ImageFromBytes(face), ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
		"IDV.InitWeb": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{Country: "TWN", IDType: IDTypePassport, WorkflowID: 100, CustomerReference: "c1",
				ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
		"IDV.InitMobile": func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", ExpectedName: name, ExpectedBirthday: birthday, ExpectedIDNumber: idNumber})
			return err
		},
	}
	echoes := map[string]string{
		"JSON":         `{"code":4001,"message":"target \"John Doe\" (birthday 1990-01-02, id A123456789) is on a watch list"}`,
		"JSON escaped": `{"message":"target \u004Aohn\u0020Doe, 1990\u002d01\u002d02, \u0041123456789"}`,
		"HTML":         `<html><title>John&#32;Doe 1990&#x2d;01-02 &#65;123456789</title></html>`,
		"URL escaped":  `bad target John%20Doe 1990-01-02 A123456789`,
	}
	for callName, call := range calls {
		for echoName, echo := range echoes {
			t.Run(callName+"/"+echoName, func(t *testing.T) {
				c, mux := setup(t, WithMaxRetries(0))
				logger, logs := debugJSONLogger()
				c.cfg.logger = logger
				mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, echo)
				})
				err := call(t.Context(), c)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				out := printed(err) + apiErr.Message + string(apiErr.Body) + logs.String()
				sent := []string{name, birthday, idNumber}
				if callName == "Tasks.Create" {
					sent = sent[:2] // a task sends no ID number, so the SDK cannot know it
				}
				for _, form := range decodedForms(out) {
					for _, v := range sent {
						assert.NotContains(t, form, v)
					}
				}
			})
		}
	}
}
