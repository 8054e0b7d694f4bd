package kryptogo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"syscall"
)

// An error the SDK hands back is read by more than its Error(): error
// reporters walk errors.Unwrap and call Error() on every node (and record
// its type and fields), and a caller reaches any node with errors.As. A
// failure of the transport quotes what a broken server sent (net/http's
// "malformed HTTP response", "bad Content-Length"…), which may echo the API
// key and the request's personal values. So the SDK hands back a masked
// copy of the whole chain: every node's text goes through the call's
// scrubber, the standard error types that callers classify with are rebuilt
// around masked inner errors, and every other node becomes a masked stand-in
// that keeps what the original said about itself: its Timeout() and
// Temporary(), and which standard sentinels it matched.

// chainSentinels are errors kept as they are wherever they appear in a
// chain (their text is fixed, they hold nothing of a request), and the
// sentinels a masked stand-in still answers errors.Is for when the node it
// replaces matched them itself.
var chainSentinels = []error{
	context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded,
	io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, io.ErrShortWrite, io.ErrNoProgress,
	net.ErrClosed, os.ErrClosed, fs.ErrNotExist, fs.ErrPermission, fs.ErrExist, fs.ErrInvalid,
	http.ErrBodyReadAfterClose, http.ErrUseLastResponse, http.ErrSchemeMismatch, http.ErrHandlerTimeout,
	http.ErrServerClosed, http.ErrNoLocation, http.ErrMissingFile, http.ErrLineTooLong,
	errReplayed, ErrMaybeSent, ErrUnauthorized, ErrNotFound, ErrConflict, ErrRateLimited, ErrServerError,
	ErrInvalidRequest, ErrInvalidResponse, ErrRetryBudgetExhausted, ErrInvalidCallback, ErrInvalidSignature,
}

// chain returns a copy of err that reveals, through Error(), errors.Unwrap,
// errors.As and printing, neither the API key nor a personal value the
// scrubber masks, and that errors.Is and errors.As classify as err.
func (s scrubber) chain(err error) error {
	if err == nil || isSentinel(err) {
		return err
	}
	switch e := err.(type) {
	case syscall.Errno, tls.AlertError, x509.ConstraintViolationError, x509.UnhandledCriticalExtension,
		x509.InsecureAlgorithmError, tls.RecordHeaderError:
		return err // numbers and fixed texts
	case x509.HostnameError, x509.UnknownAuthorityError, x509.CertificateInvalidError, *tls.CertificateVerificationError:
		return s.certificateError(err)
	case x509.SystemRootsError:
		return x509.SystemRootsError{Err: s.chain(e.Err)}
	case *net.OpError:
		c := *e // Op, Net and the addresses name the connection, not the request
		c.Err = s.chain(e.Err)
		return &c
	case *net.DNSError:
		c := *e
		c.Err, c.Name, c.Server = s.text(e.Err), s.text(e.Name), s.text(e.Server)
		c.UnwrapErr = s.chain(e.UnwrapErr)
		return &c
	case *os.SyscallError:
		return &os.SyscallError{Syscall: e.Syscall, Err: s.chain(e.Err)}
	case *fs.PathError:
		return &fs.PathError{Op: e.Op, Path: s.text(e.Path), Err: s.chain(e.Err)}
	case *net.AddrError:
		return &net.AddrError{Err: s.text(e.Err), Addr: s.text(e.Addr)}
	case *url.Error:
		return &url.Error{Op: e.Op, URL: s.text(withoutQuery(e.URL)), Err: s.chain(e.Err)}
	case textproto.ProtocolError:
		return textproto.ProtocolError(s.text(string(e)))
	case *textproto.Error:
		return &textproto.Error{Code: e.Code, Msg: s.text(e.Msg)}
	case *limiterError:
		return err // the caller's own limiter: it never sees the request
	case *redactedError, *storeError, *maybeSentError, *budgetError, *pauseError, *APIError, *ResponseError, *ValidationError,
		*maskedError, *maskedWrapper, *maskedJoin, *maskedNetError, *maskedNetWrapper, *maskedNetJoin:
		return err // the SDK's own, built from masked parts
	}
	return s.standIn(err)
}

// limiterError is the failure of the caller's own RateLimiter. It is kept
// whole in a masked chain, so the caller still finds its own error types
// with errors.As: the limiter is given only the context, never the
// request, so it has nothing to echo.
type limiterError struct{ err error }

func (e *limiterError) Error() string { return "rate limiter: " + e.err.Error() }

// Unwrap returns the limiter's error.
func (e *limiterError) Unwrap() error { return e.err }

// isSentinel reports whether err is one of chainSentinels itself.
func isSentinel(err error) bool {
	for _, s := range chainSentinels {
		if err == s {
			return true
		}
	}
	return false
}

// withoutQuery cuts the query off a URL's text: it may carry a customer
// reference.
func withoutQuery(u string) string {
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return u[:i]
		}
	}
	return u
}

// standIn returns a masked stand-in for err, a node of a type the SDK does
// not rebuild: the same shape (a leaf, one wrapped error or several), its
// masked text, and its classification.
func (s scrubber) standIn(err error) error {
	node := maskedError{text: s.text(err.Error()), matches: ownSentinels(err)}
	var wrapped error
	var joined []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		wrapped = s.chain(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			joined = append(joined, s.chain(e))
		}
	}
	class, isNet := netClassOf(err)
	_, isWrapper := err.(interface{ Unwrap() error })
	_, isJoin := err.(interface{ Unwrap() []error })
	switch {
	case isWrapper && isNet:
		return &maskedNetWrapper{maskedWrapper{node, wrapped}, class}
	case isWrapper:
		return &maskedWrapper{node, wrapped}
	case isJoin && isNet:
		return &maskedNetJoin{maskedJoin{node, joined}, class}
	case isJoin:
		return &maskedJoin{node, joined}
	case isNet:
		return &maskedNetError{node, class}
	}
	return &node
}

// ownSentinels returns the chainSentinels that err matches by its own Is
// method (net/http's timeout errors match context.DeadlineExceeded so).
// What it matches through the errors it wraps stays reachable in the
// masked copies of those.
func ownSentinels(err error) []error {
	is, ok := err.(interface{ Is(error) bool })
	if !ok {
		return nil
	}
	var out []error
	for _, s := range chainSentinels {
		if is.Is(s) {
			out = append(out, s)
		}
	}
	return out
}

// netClass is what a network error says about itself.
type netClass struct{ timeout, temporary bool }

// Timeout reports whether the original error was a timeout.
func (c netClass) Timeout() bool { return c.timeout }

// Temporary reports what the original error's Temporary said.
func (c netClass) Temporary() bool { return c.temporary }

// netClassOf returns err's Timeout() and Temporary(), and whether it has a
// Timeout method (net.OpError asks its inner error for one).
func netClassOf(err error) (netClass, bool) {
	t, ok := err.(interface{ Timeout() bool })
	if !ok {
		return netClass{}, false
	}
	class := netClass{timeout: t.Timeout()}
	if tmp, ok := err.(interface{ Temporary() bool }); ok {
		class.temporary = tmp.Temporary()
	}
	return class, true
}

// storeError is a failure of the client's IdempotencyStore, its text and
// chain masked of the call's idempotency keys (a driver quotes the command
// it ran, key included). Is asks the original chain, so a caller still
// matches its store's own sentinel errors: errors.Is tells yes or no, never
// a text. The original is held in a closure, which neither printing nor
// reflection (an error reporter recording fields) can open.
type storeError struct {
	redactedError
	matches func(target error) bool
}

// Is reports whether the store's original error matches target.
func (e *storeError) Is(target error) bool { return e.matches(target) }

// wrapStore is wrap for a store's err: a storeError.
func (s scrubber) wrapStore(prefix string, err error) error {
	return &storeError{redactedError: redactedError{msg: s.text(prefix + s.head(err.Error())), err: s.chain(err)},
		matches: func(target error) bool { return errors.Is(err, target) }}
}

// maskedError stands in for an error node of a foreign type: its text,
// masked, and the sentinels it matched itself.
type maskedError struct {
	text    string
	matches []error
}

func (e *maskedError) Error() string { return e.text }

// Is matches the sentinels the original matched by its own Is method.
func (e *maskedError) Is(target error) bool { return slices.Contains(e.matches, target) }

// maskedWrapper stands in for a node that wrapped one error.
type maskedWrapper struct {
	maskedError
	next error
}

// Unwrap returns the masked copy of the wrapped error.
func (e *maskedWrapper) Unwrap() error { return e.next }

// maskedJoin stands in for a node that wrapped several errors.
type maskedJoin struct {
	maskedError
	next []error
}

// Unwrap returns the masked copies of the wrapped errors.
func (e *maskedJoin) Unwrap() []error { return e.next }

// maskedNetError, maskedNetWrapper and maskedNetJoin stand in for network
// errors (net.Error): errors.As still finds a net.Error with the same
// Timeout().
type (
	maskedNetError struct {
		maskedError
		netClass
	}
	maskedNetWrapper struct {
		maskedWrapper
		netClass
	}
	maskedNetJoin struct {
		maskedJoin
		netClass
	}
)

// A certificate failure holds what the server presented in its handshake:
// the certificates, whose names x509.HostnameError's text lists. A server
// that was sent the key once (the API's host, a proxy that ends TLS) can
// present, on a later connection, a certificate whose names or subject
// echo it. A failure whose certificates and text reveal no secret is kept
// as it came, DER included; any other is rebuilt around masked copies of
// its certificates (masked names, validity and usages, no DER), so that
// errors.As still finds it and the SDK still sees a certificate failure.

// certificateError returns err, an x509 or TLS certificate failure, or
// its masked copy when it reveals a secret.
func (s scrubber) certificateError(err error) error {
	switch e := err.(type) {
	case x509.HostnameError:
		if s.certRevealing(e.Certificate) || s.reveals(e.Host) {
			return x509.HostnameError{Certificate: s.certificate(e.Certificate), Host: s.text(e.Host)}
		}
	case x509.UnknownAuthorityError:
		// Its hint (a candidate authority, whose certificate a text that
		// differs from the plain one names) is unexported and cannot be
		// checked whole: a copy drops it; the error's text above keeps it.
		if s.certRevealing(e.Cert) || e.Error() != (x509.UnknownAuthorityError{}).Error() {
			return x509.UnknownAuthorityError{Cert: s.certificate(e.Cert)}
		}
	case x509.CertificateInvalidError:
		if s.certRevealing(e.Cert) || s.reveals(e.Detail) {
			return x509.CertificateInvalidError{Cert: s.certificate(e.Cert), Reason: e.Reason, Detail: s.text(e.Detail)}
		}
	case *tls.CertificateVerificationError:
		certs := e.UnverifiedCertificates
		if slices.ContainsFunc(certs, s.certRevealing) {
			certs = make([]*x509.Certificate, len(e.UnverifiedCertificates))
			for i, c := range e.UnverifiedCertificates {
				certs[i] = s.certificate(c)
			}
		}
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: s.chain(e.Err)}
	}
	return err
}

// reveals reports whether v holds a secret in a spelling the scrubber
// masks or once decoded.
func (s scrubber) reveals(v string) bool { return s.m.String(v) != v || s.leaks(v) }

// certRevealing reports whether c's DER (which holds its subject, issuer
// and names as they were sent) reveals a secret.
func (s scrubber) certRevealing(c *x509.Certificate) bool {
	return c != nil && s.reveals(string(c.Raw))
}

// certificate returns a copy of c for an error: its names masked, its
// validity, serial and usages, the ids of its extensions (not their
// values), and no DER, key or signature. nil for nil.
func (s scrubber) certificate(c *x509.Certificate) *x509.Certificate {
	if c == nil {
		return nil
	}
	out := &x509.Certificate{
		SerialNumber: c.SerialNumber, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Subject: s.pkixName(c.Subject), Issuer: s.pkixName(c.Issuer),
		DNSNames: s.texts(c.DNSNames), EmailAddresses: s.texts(c.EmailAddresses), IPAddresses: c.IPAddresses,
		KeyUsage: c.KeyUsage, ExtKeyUsage: c.ExtKeyUsage, IsCA: c.IsCA, BasicConstraintsValid: c.BasicConstraintsValid,
		SignatureAlgorithm: c.SignatureAlgorithm, PublicKeyAlgorithm: c.PublicKeyAlgorithm, Version: c.Version,
	}
	for _, ext := range c.Extensions { // HostnameError's text asks whether a SAN extension is present
		out.Extensions = append(out.Extensions, pkix.Extension{Id: ext.Id, Critical: ext.Critical})
	}
	return out
}

// pkixName returns the masked string fields of a certificate's name; its
// raw attributes are dropped.
func (s scrubber) pkixName(n pkix.Name) pkix.Name {
	return pkix.Name{
		CommonName: s.text(n.CommonName), SerialNumber: s.text(n.SerialNumber),
		Country: s.texts(n.Country), Organization: s.texts(n.Organization), OrganizationalUnit: s.texts(n.OrganizationalUnit),
		Locality: s.texts(n.Locality), Province: s.texts(n.Province), StreetAddress: s.texts(n.StreetAddress), PostalCode: s.texts(n.PostalCode),
	}
}

// texts masks each of vs; nil for none.
func (s scrubber) texts(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = s.text(v)
	}
	return out
}
