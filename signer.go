package kryptogo

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// ErrInvalidSignature is returned by CallbackSigner.Verify for a missing,
// malformed or wrong signature.
var ErrInvalidSignature = errors.New("kryptogo: invalid callback signature")

// SignatureParam is the query parameter that carries a callback URL's
// signature.
const SignatureParam = "kg_sig"

// MinSecretBytes is the shortest callback signing secret accepted.
const MinSecretBytes = 32

// CallbackSigner signs callback URLs and verifies the requests made to them,
// with HMAC-SHA256 over the URL's query parameters. It is safe for
// concurrent use.
type CallbackSigner struct {
	secrets [][]byte // the current secret first, then the previous ones
}

// NewCallbackSigner returns a signer that signs with secret and verifies
// with secret or any of previous, so secrets can be rotated: sign with the
// new secret while URLs signed with the old one are still out. Every secret
// must be at least 32 bytes (generate them with crypto/rand).
func NewCallbackSigner(secret []byte, previous ...[]byte) (*CallbackSigner, error) {
	s := &CallbackSigner{}
	for i, sec := range append([][]byte{secret}, previous...) {
		if len(sec) < MinSecretBytes {
			return nil, fmt.Errorf("kryptogo: callback secret %d is %d bytes; use at least %d random bytes", i, len(sec), MinSecretBytes)
		}
		s.secrets = append(s.secrets, bytes.Clone(sec))
	}
	return s, nil
}

// String describes the signer without its secrets.
func (s *CallbackSigner) String() string {
	return fmt.Sprintf("kryptogo.CallbackSigner{secrets: %d}", len(s.secrets))
}

// Format prints String for every verb, so no verb can reach a secret.
func (s *CallbackSigner) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// SignURL returns callbackURL with a signature parameter covering its query
// parameters: pass the result as callback_url. Put your own ids in the query
// (https://example.com/kryptogo?customer=42); Verify then proves they are
// the ones you signed.
func (s *CallbackSigner) SignURL(callbackURL string) (string, error) {
	u, err := url.Parse(callbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("kryptogo: SignURL: %q is not an absolute http(s) URL", callbackURL)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("kryptogo: SignURL: bad query: %w", err)
	}
	if query.Has(SignatureParam) {
		return "", fmt.Errorf("kryptogo: SignURL: the URL already has a %s parameter", SignatureParam)
	}
	sig := s.sign(s.secrets[0], query)
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += SignatureParam + "=" + sig
	return u.String(), nil
}

// sign returns the signature of a query: an HMAC over its canonical form
// (keys sorted, values in order, standard escaping), so that a proxy that
// re-encodes the query does not break it, while any change to a key or a
// value, and any added parameter, does.
func (s *CallbackSigner) sign(secret []byte, query url.Values) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("kryptogo-callback-v1\n"))
	mac.Write([]byte(query.Encode()))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the signature of a request to a signed callback URL, in
// constant time, against every secret of the signer. A missing, malformed or
// wrong signature is ErrInvalidSignature.
func (s *CallbackSigner) Verify(r *http.Request) error {
	if r == nil || r.URL == nil {
		return ErrInvalidSignature
	}
	return s.VerifyURL(r.URL)
}

// VerifyURL is Verify for a URL.
func (s *CallbackSigner) VerifyURL(u *url.URL) error {
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: bad query", ErrInvalidSignature)
	}
	sigs := query[SignatureParam]
	if len(sigs) != 1 {
		return fmt.Errorf("%w: want one %s parameter, got %d", ErrInvalidSignature, SignatureParam, len(sigs))
	}
	got, err := base64.RawURLEncoding.DecodeString(sigs[0])
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed", ErrInvalidSignature)
	}
	query.Del(SignatureParam)
	for _, secret := range s.secrets {
		want, _ := base64.RawURLEncoding.DecodeString(s.sign(secret, query))
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: mismatch", ErrInvalidSignature)
}

// NewSignedCallbackRequest builds the request KryptoGO would send to a
// signed callback URL, for users' tests: pass it to a handler's ServeHTTP,
// or send it to a running server with an http.Client. signer signs callbackURL, and
// payload becomes the body (a []byte or json.RawMessage as is, a model with
// RawJSON its original JSON, anything else encoded as JSON). A nil signer
// leaves the URL unsigned.
func NewSignedCallbackRequest(signer *CallbackSigner, callbackURL string, payload any) (*http.Request, error) {
	target := callbackURL
	if signer != nil {
		signed, err := signer.SignURL(callbackURL)
		if err != nil {
			return nil, err
		}
		target = signed
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
