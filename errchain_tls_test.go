package kryptogo

// Attack on issue 15's "no secret behind Unwrap": the chain kept TLS and
// x509 errors whole, on the ground that a handshake comes before the
// request and cannot echo it. A server that was sent the key once (the
// API host itself, or a proxy that terminates TLS) can present, on a later
// connection, a certificate whose names echo it: x509.HostnameError's
// Error() lists the certificate's DNS names, and every x509 error and
// *tls.CertificateVerificationError holds the certificates themselves
// (their DER, subject and names), which errors.As and reporters that dump
// fields reach.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoCert is a certificate and its key, signed by parent (self-signed
// when parent is nil).
type echoCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newEchoCert(t *testing.T, tmpl *x509.Certificate, parent *echoCert) echoCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.BasicConstraintsValid = true
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return echoCert{cert, key}
}

// echoTLSServer serves TLS with a leaf certificate, signed by a CA, whose
// subject and DNS names quote the API key and the customer's name; it
// returns the base URL (with host) and the CA.
func echoTLSServer(t *testing.T, host string) (string, *x509.Certificate) {
	t.Helper()
	ca := newEchoCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA of " + testKey}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign}, nil)
	leaf := newEchoCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: testKey + " " + chainName, Organization: []string{chainBirthday}},
		DNSNames:    []string{testKey + ".echo.example", chainName + ".echo.example"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &ca)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's refusal is logged by the server
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", host, 1), ca.cert
}

// TestTLSCertificateEchoMaskedInChain: over real TLS sockets, a
// certificate that quotes the key and the name fails the handshake; the
// error's chain reveals neither, and errors.As still finds the TLS and
// x509 errors a caller classifies with.
func TestTLSCertificateEchoMaskedInChain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		host    string // the base URL's host: a name the certificate does not hold fails its hostname check
		trustCA bool
		as      func(t *testing.T, err error) string // the found error's Error()
	}{
		{name: "hostname mismatch", host: "localhost", trustCA: true, as: func(t *testing.T, err error) string {
			var hostErr x509.HostnameError
			require.ErrorAs(t, err, &hostErr)
			assert.Equal(t, "localhost", hostErr.Host)
			assert.Contains(t, hostErr.Error(), "certificate is valid for", "the error still says why")
			return hostErr.Error()
		}},
		{name: "unknown authority", host: "127.0.0.1", trustCA: false, as: func(t *testing.T, err error) string {
			var authErr x509.UnknownAuthorityError
			require.ErrorAs(t, err, &authErr)
			return authErr.Error()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, ca := echoTLSServer(t, tc.host)
			roots := x509.NewCertPool()
			if tc.trustCA {
				roots.AddCert(ca)
			}
			transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			c, err := NewClient(testKey, WithBaseURL(base), WithHTTPClient(&http.Client{Transport: transport}), WithMaxRetries(0))
			require.NoError(t, err)
			_, err = c.Tasks.Create(t.Context(), chainTarget())
			require.Error(t, err)

			found := tc.as(t, err)
			var verifyErr *tls.CertificateVerificationError
			require.ErrorAs(t, err, &verifyErr, "still a certificate failure")
			assert.True(t, permanent(err), "still not worth retrying")
			assert.NotErrorIs(t, err, ErrMaybeSent, "nothing was written")
			assertAbsent(t, found, testKey, chainName, chainBirthday)
			assertAbsent(t, chainExposure(err), testKey, chainName, chainBirthday)
		})
	}
}

// TestTLSErrorWithoutEchoKeptWhole: a certificate that echoes nothing is
// handed on as it came, with its DER, so a caller can still inspect it.
func TestTLSErrorWithoutEchoKeptWhole(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := NewClient(testKey, WithBaseURL(srv.URL), WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Tasks.Create(t.Context(), chainTarget())
	var verifyErr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verifyErr)
	require.NotEmpty(t, verifyErr.UnverifiedCertificates)
	assert.Equal(t, srv.Certificate().Raw, verifyErr.UnverifiedCertificates[0].Raw)
	var authErr x509.UnknownAuthorityError
	require.ErrorAs(t, err, &authErr)
}
