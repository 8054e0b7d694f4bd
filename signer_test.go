package kryptogo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
)

func newSigner(t *testing.T, secret []byte, previous ...[]byte) *CallbackSigner {
	s, err := NewCallbackSigner(secret, previous...)
	require.NoError(t, err)
	return s
}

func TestSignerVerify(t *testing.T) {
	signer := newSigner(t, secretA)
	signed, err := signer.SignURL("https://example.com/cb?customer=42&b=x%20y&b=z")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(signed, "https://example.com/cb?customer=42&b=x%20y&b=z&kg_sig="), signed)
	mustParse := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	require.NoError(t, signer.VerifyURL(mustParse(signed)))

	u := mustParse(signed)
	q := u.Query()
	reencoded := *u
	reencoded.RawQuery = q.Encode() // a proxy that re-encodes and reorders the query
	assert.NoError(t, signer.VerifyURL(&reencoded))

	sig := q.Get(SignatureParam)
	for name, raw := range map[string]string{
		"changed value":      strings.Replace(u.RawQuery, "customer=42", "customer=43", 1),
		"added param":        u.RawQuery + "&admin=1",
		"removed param":      strings.Replace(u.RawQuery, "customer=42&", "", 1),
		"reordered values":   strings.Replace(u.RawQuery, "b=x%20y&b=z", "b=z&b=x%20y", 1),
		"value moved to key": strings.Replace(u.RawQuery, "customer=42", "customer42=", 1),
		"no signature":       "customer=42&b=x%20y&b=z",
		"two signatures":     u.RawQuery + "&kg_sig=" + sig,
		"malformed":          "customer=42&b=x%20y&b=z&kg_sig=not*base64",
		"short":              "customer=42&b=x%20y&b=z&kg_sig=abcd",
		"bad query":          "customer=%zz&kg_sig=" + sig,
	} {
		tampered := *u
		tampered.RawQuery = raw
		assert.ErrorIs(t, signer.VerifyURL(&tampered), ErrInvalidSignature, name)
	}
	other := newSigner(t, secretB)
	assert.ErrorIs(t, other.VerifyURL(u), ErrInvalidSignature, "another secret")
	assert.ErrorIs(t, signer.Verify(nil), ErrInvalidSignature)

	noQuery, err := signer.SignURL("https://example.com/cb")
	require.NoError(t, err)
	assert.Regexp(t, `^https://example\.com/cb\?kg_sig=[A-Za-z0-9_-]{43}$`, noQuery)
	assert.NoError(t, signer.VerifyURL(mustParse(noQuery)))
}

func TestSignerRotation(t *testing.T) {
	old := newSigner(t, secretA)
	signedOld, err := old.SignURL("https://example.com/cb?customer=1")
	require.NoError(t, err)
	rotated := newSigner(t, secretB, secretA)
	signedNew, err := rotated.SignURL("https://example.com/cb?customer=1")
	require.NoError(t, err)
	assert.NotEqual(t, signedOld, signedNew, "signs with the current secret")
	for _, s := range []string{signedOld, signedNew} {
		u, _ := url.Parse(s)
		assert.NoError(t, rotated.VerifyURL(u), s)
	}
	u, _ := url.Parse(signedNew)
	assert.ErrorIs(t, old.VerifyURL(u), ErrInvalidSignature)
	retired := newSigner(t, secretB)
	u, _ = url.Parse(signedOld)
	assert.ErrorIs(t, retired.VerifyURL(u), ErrInvalidSignature, "a retired secret no longer verifies")
}

func TestSignerErrors(t *testing.T) {
	_, err := NewCallbackSigner([]byte("short"))
	assert.ErrorContains(t, err, "at least 32 random bytes")
	_, err = NewCallbackSigner(secretA, []byte("short"))
	assert.ErrorContains(t, err, "callback secret 1 is 5 bytes")

	signer := newSigner(t, secretA)
	for _, bad := range []string{"/relative", "example.com/cb", "ftp://example.com/cb", "https://example.com/cb?kg_sig=x", "https://example.com/cb?a=%zz", "http://[::1"} {
		_, err := signer.SignURL(bad)
		assert.Error(t, err, bad)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, signer)
		assert.NotContains(t, out, string(secretA), verb)
		assert.NotContains(t, out, fmt.Sprintf("%x", secretA), verb)
	}
}

func TestNewSignedCallbackRequestPayloads(t *testing.T) {
	signer := newSigner(t, secretA)
	var summary TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &summary))
	for name, payload := range map[string]any{
		"model with raw JSON": &summary,
		"bytes":               fixture(t, "task_summary.json"),
		"built in code":       &TaskSummary{TaskID: 123, Progress: 100},
		"map":                 map[string]any{"task_id": 123},
	} {
		req, err := NewSignedCallbackRequest(signer, "https://example.com/cb", payload)
		require.NoError(t, err, name)
		require.NoError(t, signer.Verify(req), name)
		var got TaskSummary
		require.NoError(t, json.NewDecoder(req.Body).Decode(&got), name)
		assert.Equal(t, ID(123), got.TaskID, name)
	}
	_, err := NewSignedCallbackRequest(signer, "not a url", nil)
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "https://example.com/cb", map[string]any{"f": func() {}})
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "http://[::1", []byte("{}"))
	assert.Error(t, err)
}
