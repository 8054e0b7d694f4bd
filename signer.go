package kryptogo

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrInvalidSignature is CallbackSigner.Verify's error for a bad signature.
var ErrInvalidSignature = errors.New("kryptogo: invalid callback signature")

// SignatureParam is the query parameter of a callback URL's signature.
const SignatureParam = "kg_sig"

// ReferenceParam is the query parameter of the customer a URL was signed for.
const ReferenceParam = "kg_ref"

// MinSecretBytes is the shortest callback signing secret accepted.
const MinSecretBytes = 32

// signatureDomain versions the MAC input. v1 covered the query alone; v2
// covers host, path and query, so its signatures never verify a v1 input.
const signatureDomain = "kryptogo-callback-v2"

// CallbackSigner signs callback URLs and verifies the requests made to them
// (HMAC-SHA256 over host, path and query). It is safe for concurrent use.
type CallbackSigner struct {
	secrets [][]byte // the current secret first, then the previous ones
	// macs holds, per secret, HMAC-SHA256 states keyed with it (*macState),
	// reused by verify: hmac.New costs five allocations and two hashed
	// blocks.
	macs []*sync.Pool
}

// NewCallbackSigner returns a signer that signs with secret and verifies with
// it or any of previous (to rotate secrets).
func NewCallbackSigner(secret []byte, previous ...[]byte) (*CallbackSigner, error) {
	s := &CallbackSigner{}
	for i, sec := range append([][]byte{secret}, previous...) {
		if len(sec) < MinSecretBytes {
			return nil, fmt.Errorf("kryptogo: callback secret %d is %d bytes; use at least %d random bytes", i, len(sec), MinSecretBytes)
		}
		key := bytes.Clone(sec)
		s.secrets = append(s.secrets, key)
		s.macs = append(s.macs, &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, key)} }})
	}
	return s, nil
}

// Format prints the number of secrets, never a secret.
func (s CallbackSigner) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "kryptogo.CallbackSigner{secrets: %d}", len(s.secrets))
}

// SignURL returns callbackURL bound to customerReference (kg_ref, not empty)
// and signed (kg_sig): the callback_url of a request of that customer.
func (s *CallbackSigner) SignURL(callbackURL, customerReference string) (string, error) {
	if customerReference == "" {
		return "", errors.New("kryptogo: SignURL: the customer reference is empty; a callback URL belongs to one customer")
	}
	if len(s.secrets) == 0 {
		return "", errors.New("kryptogo: SignURL: the signer has no secret; use NewCallbackSigner")
	}
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not quoted: its query may carry a token or a customer's data.
		return "", errors.New("kryptogo: SignURL: the callback URL is not an absolute http(s) URL")
	}
	query, err := parseCallbackQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("kryptogo: SignURL: %w", err)
	}
	for _, reserved := range []string{ReferenceParam, SignatureParam} {
		if query.Has(reserved) {
			return "", fmt.Errorf("kryptogo: SignURL: the URL already has a %s parameter", reserved)
		}
	}
	u.RawQuery = appendParam(u.RawQuery, ReferenceParam, customerReference)
	query.Set(ReferenceParam, customerReference)
	input, err := canonicalInput(u.Host, u.EscapedPath(), query)
	if err != nil {
		return "", fmt.Errorf("kryptogo: SignURL: %w", err)
	}
	sig := base64.RawURLEncoding.EncodeToString(mac(s.secrets[0], input))
	u.RawQuery = appendParam(u.RawQuery, SignatureParam, sig)
	return u.String(), nil
}

// appendParam adds key=value at the end of a raw query, leaving the rest of
// it as the caller wrote it.
func appendParam(rawQuery, key, value string) string {
	if rawQuery != "" {
		rawQuery += "&"
	}
	return rawQuery + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// Verify checks the signature of a request to a signed callback URL; behind a
// proxy that rewrites the host or path, use VerifyURL.
func (s *CallbackSigner) Verify(r *http.Request) error {
	if r == nil || r.URL == nil {
		return ErrInvalidSignature
	}
	_, err := s.verify(requestHost(r), r.URL.EscapedPath(), r.URL.RawQuery)
	return err
}

// VerifyURL is Verify for an absolute URL.
func (s *CallbackSigner) VerifyURL(u *url.URL) error {
	if u == nil {
		return ErrInvalidSignature
	}
	_, err := s.verify(u.Host, u.EscapedPath(), u.RawQuery)
	return err
}

// verify checks a signature and returns the verified query without kg_sig.
func (s *CallbackSigner) verify(host, escapedPath, rawQuery string) (url.Values, error) {
	query, err := parseCallbackQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	sigs := query[SignatureParam]
	if len(sigs) != 1 {
		return nil, fmt.Errorf("%w: want one %s parameter, got %d", ErrInvalidSignature, SignatureParam, len(sigs))
	}
	got, ok := decodeSignature(sigs[0])
	if !ok {
		return nil, fmt.Errorf("%w: malformed", ErrInvalidSignature)
	}
	query.Del(SignatureParam)
	if refs := query[ReferenceParam]; len(refs) != 1 || refs[0] == "" {
		return nil, fmt.Errorf("%w: want one non-empty %s parameter", ErrInvalidSignature, ReferenceParam)
	}
	input, err := canonicalInput(host, escapedPath, query)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	for i := range s.secrets {
		if s.macEqual(i, input, got[:]) {
			return query, nil
		}
	}
	return nil, fmt.Errorf("%w: mismatch", ErrInvalidSignature)
}

// decodeSignature decodes a kg_sig value, accepting only the one string
// SignURL writes for a MAC, so a signature has one spelling. Base64
// decoding alone is malleable: Strict refuses set spare bits in the last
// character, and the re-encoding check the CR and LF that decoding skips.
// (SignURL's form of a MAC is sigLen characters: any other length is
// refused before decoding, and decoding and re-encoding use stack buffers.)
func decodeSignature(sig string) (got [sha256.Size]byte, ok bool) {
	const sigLen = (sha256.Size*8 + 5) / 6 // base64.RawURLEncoding.EncodedLen(sha256.Size)
	if len(sig) != sigLen {
		return got, false
	}
	var src, again [sigLen]byte
	copy(src[:], sig)
	n, err := base64.RawURLEncoding.Strict().Decode(got[:], src[:])
	if err != nil || n != sha256.Size {
		return got, false
	}
	base64.RawURLEncoding.Encode(again[:], got[:])
	return got, string(again[:]) == sig
}

// unparsableQueryCause names what url.ParseQuery refuses.
const unparsableQueryCause = "a bad %-escape or a ';' separator"

// parseCallbackQuery parses a callback URL's query for SignURL, the
// handler and request validation alike, so all three see the same
// parameters. It refuses a query that does not parse cleanly instead of
// dropping the pairs it cannot read (url.ParseQuery's partial result), one
// of which may be a kg_ref. The error does not echo the query, which holds
// the customer reference.
func parseCallbackQuery(rawQuery string) (url.Values, error) {
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("the query does not parse (" + unparsableQueryCause + ")")
	}
	return query, nil
}

// macState is a pooled HMAC state and the buffer its sum is written to.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// macEqual reports whether want is mac with secret i, computed on a state
// of the pool (no allocation).
func (s *CallbackSigner) macEqual(i int, input, want []byte) bool {
	if i >= len(s.macs) {
		return hmac.Equal(want, mac(s.secrets[i], input))
	}
	m := s.macs[i].Get().(*macState)
	defer s.macs[i].Put(m)
	m.h.Reset()
	m.h.Write(input)
	return hmac.Equal(want, m.h.Sum(m.sum[:0]))
}

// mac is the HMAC-SHA256 of the canonical input under secret.
func mac(secret, input []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(input)
	return m.Sum(nil)
}

// canonicalInput is what a signature covers: the domain string, host, path
// and query in canonical form, each prefixed with its length so that no
// choice of one part can pass for another.
func canonicalInput(host, escapedPath string, query url.Values) ([]byte, error) {
	host, hostErr := canonicalHost(host) // reported after a bad path's error
	// One allocation (unless the path or query gain escapes): each part is
	// appended after an 8-byte slot for its length, filled in after it.
	b := make([]byte, 0, 4*8+len(signatureDomain)+len(host)+len(escapedPath)+1+queryLen(query))
	b = append(binary.BigEndian.AppendUint64(b, uint64(len(signatureDomain))), signatureDomain...)
	b = append(binary.BigEndian.AppendUint64(b, uint64(len(host))), host...)
	at := len(b)
	b, err := appendCanonicalPath(binary.BigEndian.AppendUint64(b, 0), escapedPath)
	if err != nil {
		return nil, err
	}
	if hostErr != nil {
		return nil, hostErr
	}
	binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	at = len(b)
	b = appendQuery(binary.BigEndian.AppendUint64(b, 0), query)
	binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	return b, nil
}

// appendQuery appends query.Encode() to b without building the string: the
// keys sorted, each pair key=value, both query-escaped, '&' between pairs.
func appendQuery(b []byte, query url.Values) []byte {
	var stack [8]string // a callback URL's keys: kg_ref and the user's few
	keys := stack[:0]
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	start := len(b)
	for _, k := range keys {
		key := url.QueryEscape(k)
		for _, v := range query[k] {
			if len(b) > start {
				b = append(b, '&')
			}
			b = append(append(append(b, key...), '='), url.QueryEscape(v)...)
		}
	}
	return b
}

// queryLen is the length of query.Encode() when nothing needs escaping.
func queryLen(query url.Values) int {
	n := 0
	for k, vs := range query {
		for _, v := range vs {
			n += len(k) + len(v) + 2 // key=value&
		}
	}
	return n
}

// canonicalHost lower-cases host and drops a default port (80 or 443: the
// scheme is not known behind a proxy) and a trailing dot. Only ASCII is
// lower-cased, and a host with other bytes is an error: Unicode case
// mapping would let the Kelvin sign (U+212A) pass for 'k', and a sender
// puts an internationalized name on the wire punycoded anyway.
func canonicalHost(host string) (string, error) {
	for i := range len(host) {
		if host[i] >= utf8.RuneSelf {
			return "", errors.New("the host is not ASCII; use its punycode form (xn--…)")
		}
	}
	host = asciiLower(host)
	if strings.IndexByte(host, ':') >= 0 { // else SplitHostPort fails, with an allocated error
		if name, port, err := net.SplitHostPort(host); err == nil && (port == "80" || port == "443" || port == "") {
			host = name
			if strings.Contains(name, ":") {
				host = "[" + name + "]"
			}
		}
	}
	return strings.TrimSuffix(host, "."), nil
}

// asciiLower lower-cases the ASCII letters of s and nothing else.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// canonicalPath re-escapes each segment of an escaped path the one standard
// way, so that %7E and ~, or %2f and %2F, are the same path while an escaped
// slash (%2F) stays distinct from a separator. An empty path is "/".
func canonicalPath(escapedPath string) (string, error) {
	b, err := appendCanonicalPath(nil, escapedPath)
	return string(b), err
}

// appendCanonicalPath appends canonicalPath(escapedPath) to b, segment by
// segment (no list of them, no joined string).
func appendCanonicalPath(b []byte, escapedPath string) ([]byte, error) {
	if escapedPath == "" {
		return append(b, '/'), nil
	}
	for i, rest := 0, escapedPath; ; i++ {
		seg, tail, more := strings.Cut(rest, "/")
		raw, err := url.PathUnescape(seg)
		if err != nil {
			return nil, errors.New("bad path escape")
		}
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, url.PathEscape(raw)...)
		if !more {
			return b, nil
		}
		rest = tail
	}
}

// validateCallbackReferences checks that a request's callback URLs are
// bound to its customer: KryptoGO calls back with the request's
// customer_reference, and a handler refuses a record whose reference is not
// the URL's kg_ref, so a mismatch would lose every callback.
func validateCallbackReferences(v *validator, customerReference, callbackURL, ddTaskCallbackURL string) {
	checkCallbackReference(v, "callback_url", callbackURL, customerReference)
	checkCallbackReference(v, "dd_task_callback_url", ddTaskCallbackURL, customerReference)
}

func checkCallbackReference(v *validator, field, callbackURL, customerReference string) {
	if callbackURL == "" {
		return // no URL: no query (and no allocations for a URL and a query)
	}
	u, err := url.Parse(callbackURL)
	if err != nil || u.RawQuery == "" {
		return // the URL rules report an error; no query has no reference
	}
	query, err := parseCallbackQuery(u.RawQuery)
	if err != nil {
		v.add(field, "has a query that does not parse ("+unparsableQueryCause+"); a handler would misread its parameters")
		return
	}
	switch refs := query[ReferenceParam]; {
	case len(refs) == 0:
	case len(refs) > 1:
		v.addf(field, "has %d %s parameters; sign it once with SignURL", len(refs), ReferenceParam)
	case refs[0] != customerReference:
		v.addf(field, "was signed for another customer than customer_reference (its %s differs): its callbacks would be refused", ReferenceParam)
	}
}

// NewSignedCallbackRequest builds the request KryptoGO would send to a
// callback URL signed for customerReference, for tests; payload is the body.
func NewSignedCallbackRequest(signer *CallbackSigner, callbackURL, customerReference string, payload any) (*http.Request, error) {
	target, err := callbackTarget(signer, callbackURL, customerReference)
	if err != nil {
		return nil, err
	}
	body, err := callbackBody(payload)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kryptogo: NewSignedCallbackRequest: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// callbackTarget is the URL a test callback goes to: signed by signer, or
// with an unsigned kg_ref when signer is nil.
func callbackTarget(signer *CallbackSigner, callbackURL, customerReference string) (string, error) {
	if signer != nil {
		return signer.SignURL(callbackURL, customerReference)
	}
	if customerReference == "" {
		return callbackURL, nil
	}
	u, err := url.Parse(callbackURL)
	if err != nil {
		return "", fmt.Errorf("kryptogo: NewSignedCallbackRequest: %w", err)
	}
	u.RawQuery = appendParam(u.RawQuery, ReferenceParam, customerReference)
	return u.String(), nil
}

func callbackBody(payload any) ([]byte, error) {
	switch p := payload.(type) {
	case []byte:
		return p, nil
	case json.RawMessage:
		return p, nil
	case interface{ RawJSON() json.RawMessage }:
		if raw := p.RawJSON(); len(raw) > 0 {
			return raw, nil
		}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("kryptogo: NewSignedCallbackRequest: encode payload: %w", err)
	}
	return b, nil
}
