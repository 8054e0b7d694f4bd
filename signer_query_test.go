package kryptogo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The signed input's query is url.Values.Encode's form, built in place.
func TestCanonicalQueryIsEncode(t *testing.T) {
	for _, raw := range []string{
		"",
		"kg_ref=000000123",
		"kg_ref=x&b=%20y&b=z&a=&c=%E4%B8%AD&k+k=v+v&%26=%3D",
		"x=1&y=2&z=3&a=4&b=5&c=6&d=7&e=8&f=9&g=10", // more keys than the stack holds
	} {
		query, err := url.ParseQuery(raw)
		require.NoError(t, err)
		want := query.Encode()
		require.Equal(t, "pre"+want, string(appendQuery([]byte("pre"), query)), raw)
		input, err := canonicalInput("h.example", "/p", query)
		require.NoError(t, err)
		tail := input[len(input)-len(want)-8:]
		require.Equal(t, uint64(len(want)), binary.BigEndian.Uint64(tail), raw)
		require.Equal(t, want, string(tail[8:]), raw)
	}
}

// canonicalPath re-escapes each segment as strings.Split and Join did.
func TestCanonicalPathSegments(t *testing.T) {
	for path, want := range map[string]string{
		"": "/", "/": "/", "/cb": "/cb", "/a/b/": "/a/b/", "//x": "//x",
		"/%7Ecb/%2f/%2F": "/~cb/%2F/%2F", "/a%20b/c+d": "/a%20b/c+d", "a/b": "a/b",
	} {
		got, err := canonicalPath(path)
		require.NoError(t, err, path)
		require.Equal(t, want, got, path)
	}
}

// The signed input and the signature's decoding, as they were before they
// were built in place (main's signer.go): the fuzz below holds the fast
// forms to them, since any difference would fail a signature signed the
// old way, or pass one never signed.
func slowCanonicalInput(host, escapedPath string, query url.Values) ([]byte, error) {
	path := "/"
	if escapedPath != "" {
		segments := strings.Split(escapedPath, "/")
		for i, seg := range segments {
			raw, err := url.PathUnescape(seg)
			if err != nil {
				return nil, errors.New("bad path escape")
			}
			segments[i] = url.PathEscape(raw)
		}
		path = strings.Join(segments, "/")
	}
	for i := range len(host) {
		if host[i] >= utf8.RuneSelf {
			return nil, errors.New("the host is not ASCII")
		}
	}
	host = strings.ToLower(host) // ASCII only, checked above
	if name, port, err := net.SplitHostPort(host); err == nil && (port == "80" || port == "443" || port == "") {
		host = name
		if strings.Contains(name, ":") {
			host = "[" + name + "]"
		}
	}
	host = strings.TrimSuffix(host, ".")
	var b []byte
	for _, part := range [...]string{signatureDomain, host, path, query.Encode()} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(part)))
		b = append(b, part...)
	}
	return b, nil
}

func slowDecodeSignature(sig string) ([]byte, bool) {
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size || base64.RawURLEncoding.EncodeToString(got) != sig {
		return nil, false
	}
	return got, true
}

// FuzzCanonicalInputAsBefore: the in-place input is the old one, byte for
// byte, for any host, path and query (errors alike), and kg_sig decodes to
// the same MAC or is refused alike (padding, the std alphabet, 44
// characters, spare bits, CR and LF).
func FuzzCanonicalInputAsBefore(f *testing.F) {
	for _, seed := range [][4]string{
		{"Example.COM:443", "/a/./b/../%2e%2E/%2F/%7e", "kg_ref=x&b=%20y&b=z&a=&&a=&c=%E4%B8%AD", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"[::1]:80", "", "x=1&y=2&z=3&a=4&b=5&c=6&d=7&e=8&f=9&g=10&h=11&i=12", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"h.example.", "//é/%zz", "k+k=v+v&%26=%3D", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"},
		{"H:", "a%2", "=&=&x", "+/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"ｅxample.com", "/%E2%98%83", "a=%FF%FE", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nA"},
		{"host:8443", "/cb", "kg_ref=" + strings.Repeat("v", 300), "-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, host, escapedPath, rawQuery, sig string) {
		got, ok := decodeSignature(sig)
		want, wantOK := slowDecodeSignature(sig)
		require.Equal(t, wantOK, ok, "kg_sig %q", sig)
		if ok {
			require.Equal(t, want, got[:], "kg_sig %q", sig)
		}
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		fast, err := canonicalInput(host, escapedPath, query)
		slow, slowErr := slowCanonicalInput(host, escapedPath, query)
		require.Equal(t, slowErr == nil, err == nil, "host %q path %q: %v, before %v", host, escapedPath, err, slowErr)
		require.Equal(t, slow, fast, "host %q path %q query %q", host, escapedPath, rawQuery)
	})
}

// The pooled MAC states serve concurrent verifications (run with -race):
// with two secrets, URLs signed with either verify and their forgeries
// (one MAC bit flipped) never do, whichever state a goroutine gets.
func TestVerifyConcurrentWithPooledMACs(t *testing.T) {
	t.Parallel()
	old := newSigner(t, secretB)
	signer := newSigner(t, secretA, secretB)
	var urls, forged []*url.URL
	for i, s := range []*CallbackSigner{signer, old, signer, old} {
		signed, err := s.SignURL("https://example.com/cb?n="+strconv.Itoa(i), "ref"+strconv.Itoa(i))
		require.NoError(t, err)
		u, err := url.Parse(signed)
		require.NoError(t, err)
		urls = append(urls, u)
		q := u.Query()
		mac, ok := decodeSignature(q.Get(SignatureParam))
		require.True(t, ok)
		mac[i] ^= 1
		q.Set(SignatureParam, base64.RawURLEncoding.EncodeToString(mac[:]))
		f := *u
		f.RawQuery = q.Encode()
		forged = append(forged, &f)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(urls)
				if err := signer.VerifyURL(urls[k]); err != nil {
					t.Errorf("signed URL %d: %v", k, err)
					return
				}
				if err := signer.VerifyURL(forged[k]); !errors.Is(err, ErrInvalidSignature) {
					t.Errorf("forged URL %d: %v", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
