package kryptogo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
)

func newSigner(t testing.TB, secret []byte, previous ...[]byte) *CallbackSigner {
	s, err := NewCallbackSigner(secret, previous...)
	require.NoError(t, err)
	return s
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// editURL returns a copy of u changed by edit.
func editURL(u *url.URL, edit func(*url.URL)) *url.URL {
	c := *u
	edit(&c)
	return &c
}

// signFor signs rawURL for customer and returns the parsed result.
func signFor(t testing.TB, s *CallbackSigner, rawURL, customer string) *url.URL {
	t.Helper()
	signed, err := s.SignURL(rawURL, customer)
	require.NoError(t, err)
	return mustParseURL(t, signed)
}

func TestSignURLAddsReferenceAndSignature(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	signed, err := signer.SignURL("https://example.com/cb?customer=42&b=x%20y&b=z", "c 42&x")
	require.NoError(t, err)
	assert.Regexp(t, `^https://example\.com/cb\?customer=42&b=x%20y&b=z&kg_ref=c\+42%26x&kg_sig=[A-Za-z0-9_-]{43}$`, signed,
		"the caller's query stays as written; the reference is escaped")
	u := mustParseURL(t, signed)
	require.NoError(t, signer.VerifyURL(u))
	assert.Equal(t, "c 42&x", u.Query().Get(ReferenceParam))

	noQuery, err := signer.SignURL("https://example.com/cb", "c1")
	require.NoError(t, err)
	assert.Regexp(t, `^https://example\.com/cb\?kg_ref=c1&kg_sig=[A-Za-z0-9_-]{43}$`, noQuery)
}

func TestSignaturesNeverShared(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	sigs := map[string]string{}
	for _, tc := range [][2]string{
		{"https://example.com/cb", "c1"},
		{"https://example.com/cb", "c2"},
		{"https://other.example.com/cb", "c1"},
		{"https://example.com/other", "c1"},
		{"https://example.com/cb?x=1", "c1"},
		{"https://example.com:8443/cb", "c1"},
	} {
		t.Run(tc[0]+" "+tc[1], func(t *testing.T) {
			sig := signFor(t, signer, tc[0], tc[1]).Query().Get(SignatureParam)
			assert.NotContains(t, sigs, sig, "%v shares a signature with %s", tc, sigs[sig])
			sigs[sig] = fmt.Sprint(tc)
		})
	}
}

func TestVerifySurvivesProxyReencoding(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	u := signFor(t, signer, "https://Hooks.Example.com/kryptogo/call~back?plan=gold%20plus&b=2&b=1", "c/42")
	for name, edit := range map[string]func(*url.URL){
		"as signed":           func(*url.URL) {},
		"query re-encoded":    func(u *url.URL) { u.RawQuery = u.Query().Encode() },
		"plus for space":      func(u *url.URL) { u.RawQuery = strings.Replace(u.RawQuery, "%20", "+", 1) },
		"host case":           func(u *url.URL) { u.Host = "hooks.EXAMPLE.com" },
		"default port 443":    func(u *url.URL) { u.Host = "hooks.example.com:443" },
		"default port 80":     func(u *url.URL) { u.Host = "hooks.example.com:80" },
		"trailing dot":        func(u *url.URL) { u.Host = "hooks.example.com." },
		"scheme":              func(u *url.URL) { u.Scheme = "http" },
		"escaped tilde":       func(u *url.URL) { u.RawPath = "/kryptogo/call%7Eback" },
		"lower-case escapes":  func(u *url.URL) { u.Path, u.RawPath = "/kryptogo/call~back", "/kryptogo/call%7eback" },
		"escaped path letter": func(u *url.URL) { u.RawPath = "/kryptog%6F/call~back" },
	} {
		t.Run(name, func(t *testing.T) {
			c := editURL(u, edit)
			assert.NoError(t, signer.VerifyURL(c), c.String())
		})
	}
}

func TestVerifyRefusesChanges(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	u := signFor(t, signer, "https://example.com/cb/x?customer=42&b=x%20y&b=z", "c42")
	sig := u.Query().Get(SignatureParam)
	withQuery := func(raw string) func(*url.URL) { return func(u *url.URL) { u.RawQuery = raw } }
	replace := func(old, new string) func(*url.URL) {
		return func(u *url.URL) { u.RawQuery = strings.Replace(u.RawQuery, old, new, 1) }
	}
	for name, edit := range map[string]func(*url.URL){
		"changed value":       replace("customer=42", "customer=43"),
		"changed reference":   replace("kg_ref=c42", "kg_ref=c43"),
		"second reference":    func(u *url.URL) { u.RawQuery += "&kg_ref=c43" },
		"reference removed":   replace("kg_ref=c42&", ""),
		"added param":         func(u *url.URL) { u.RawQuery += "&admin=1" },
		"removed param":       replace("customer=42&", ""),
		"reordered values":    replace("b=x%20y&b=z", "b=z&b=x%20y"),
		"value moved to key":  replace("customer=42", "customer42="),
		"no signature":        withQuery("customer=42&b=x%20y&b=z&kg_ref=c42"),
		"two signatures":      func(u *url.URL) { u.RawQuery += "&kg_sig=" + sig },
		"malformed":           withQuery("customer=42&b=x%20y&b=z&kg_ref=c42&kg_sig=not*base64"),
		"short":               withQuery("customer=42&b=x%20y&b=z&kg_ref=c42&kg_sig=abcd"),
		"bad query":           withQuery("customer=%zz&kg_ref=c42&kg_sig=" + sig),
		"semicolon separator": replace("customer=42&", "customer=42;"),
		"semicolon appended":  func(u *url.URL) { u.RawQuery += ";kg_ref=c43" },
		"only the signature":  withQuery("kg_sig=" + sig),
		"other host":          func(u *url.URL) { u.Host = "evil.example" },
		"subdomain":           func(u *url.URL) { u.Host = "a.example.com" },
		"other port":          func(u *url.URL) { u.Host = "example.com:8443" },
		"no host":             func(u *url.URL) { u.Host = "" },
		"other path":          func(u *url.URL) { u.Path = "/admin/x" },
		"parent path":         func(u *url.URL) { u.Path = "/cb" },
		"trailing slash":      func(u *url.URL) { u.Path = "/cb/x/" },
		"escaped slash":       func(u *url.URL) { u.Path, u.RawPath = "/cb/x", "/cb%2Fx" },
		"dot segment":         func(u *url.URL) { u.Path = "/cb/y/../x" },
		"path case":           func(u *url.URL) { u.Path = "/CB/x" },
		"URL without a query": withQuery(""),
	} {
		t.Run(name, func(t *testing.T) {
			c := editURL(u, edit)
			assert.ErrorIs(t, signer.VerifyURL(c), ErrInvalidSignature, c.String())
		})
	}
	assert.ErrorIs(t, newSigner(t, secretB).VerifyURL(u), ErrInvalidSignature, "another secret")
	assert.ErrorIs(t, signer.Verify(nil), ErrInvalidSignature)
	assert.ErrorIs(t, signer.VerifyURL(nil), ErrInvalidSignature)
	_, err := canonicalPath("/cb/%zz")
	assert.Error(t, err, "a bad escape has no canonical form")
}

// TestVerifyRefusesNonCanonicalSignature: base64 decoding ignores the spare
// bits of the last character and skips CR and LF, so without a canonical
// check several kg_sig strings would verify for one signature.
func TestVerifyRefusesNonCanonicalSignature(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	u := signFor(t, signer, "https://hooks.example.com/cb", "c42")
	sig := u.Query().Get(SignatureParam)
	require.Len(t, sig, 43)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	spareBitFlipped := sig[:42] + string(alphabet[strings.IndexByte(alphabet, sig[42])^1])
	for name, forged := range map[string]string{
		"spare bit of the last character flipped": spareBitFlipped,
		"LF inserted":       sig[:10] + "%0A" + sig[10:],
		"CR LF appended":    sig + "%0D%0A",
		"padding appended":  sig + "%3D",
		"standard alphabet": strings.NewReplacer("-", "+", "_", "/").Replace(sig),
	} {
		t.Run(name, func(t *testing.T) {
			forgedURL := editURL(u, func(v *url.URL) {
				v.RawQuery = strings.Replace(v.RawQuery, "kg_sig="+sig, "kg_sig="+forged, 1)
			})
			require.NotEqual(t, u.String(), forgedURL.String())
			assert.ErrorIs(t, signer.VerifyURL(forgedURL), ErrInvalidSignature, forgedURL.String())
			req, err := NewSignedCallbackRequest(nil, forgedURL.String(), "", []byte(`{"task_id": 5, "customer_reference": "c42"}`))
			require.NoError(t, err)
			assert.Equal(t, http.StatusUnauthorized, serve(&CallbackHandler{Signer: signer, Logger: discardLogger()}, req))
		})
	}
}

func TestVerifyRequestUsesHostHeader(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	u := signFor(t, signer, "https://hooks.example.com/cb", "c1")
	req, err := http.NewRequest(http.MethodPost, "http://10.0.0.7:8080"+u.RequestURI(), nil)
	require.NoError(t, err)
	assert.ErrorIs(t, signer.Verify(req), ErrInvalidSignature, "the backend's own address was not signed")
	req.Host = "hooks.example.com"
	assert.NoError(t, signer.Verify(req), "the Host header names the signed host")
}

// TestVerifyRefusesUnicodeHosts: strings.ToLower maps the Kelvin sign
// (U+212A) to 'k', so a Unicode host could pass for the signed ASCII one.
// Hosts arrive punycoded on the wire; a non-ASCII host is refused.
func TestVerifyRefusesUnicodeHosts(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	u := signFor(t, signer, "https://hooks.example.com/cb", "c42")
	for name, host := range map[string]string{
		"Kelvin sign for k":     "hoo\u212As.example.com",
		"long s for s":          "hook\u017F.example.com",
		"dotless i, upper case": "HOOKS.EXAMPLE.COM\u0130",
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, signer.VerifyURL(editURL(u, func(v *url.URL) { v.Host = host })), ErrInvalidSignature)
			req := httptest.NewRequest(http.MethodPost, u.RequestURI(), strings.NewReader(`{"task_id": 5, "customer_reference": "c42"}`))
			req.Host = host
			assert.ErrorIs(t, signer.Verify(req), ErrInvalidSignature)
		})
	}
	_, err := signer.SignURL("https://b\u00FCcher.example/cb", "c42")
	assert.ErrorContains(t, err, "punycode", "the sender would call the punycoded host, which would never verify")
}

func TestSignerRotation(t *testing.T) {
	t.Parallel()
	old := newSigner(t, secretA)
	signedOld := signFor(t, old, "https://example.com/cb?customer=1", "c1")
	rotated := newSigner(t, secretB, secretA)
	signedNew := signFor(t, rotated, "https://example.com/cb?customer=1", "c1")
	assert.NotEqual(t, signedOld.String(), signedNew.String(), "signs with the current secret")
	for _, u := range []*url.URL{signedOld, signedNew} {
		assert.NoError(t, rotated.VerifyURL(u), u.String())
	}
	assert.ErrorIs(t, old.VerifyURL(signedNew), ErrInvalidSignature)
	retired := newSigner(t, secretB)
	assert.ErrorIs(t, retired.VerifyURL(signedOld), ErrInvalidSignature, "a retired secret no longer verifies")
}

func TestSignerErrors(t *testing.T) {
	t.Parallel()
	_, err := NewCallbackSigner([]byte("short"))
	assert.ErrorContains(t, err, "at least 32 random bytes")
	_, err = NewCallbackSigner(secretA, []byte("short"))
	assert.ErrorContains(t, err, "callback secret 1 is 5 bytes")

	signer := newSigner(t, secretA)
	for _, bad := range []string{"/relative", "example.com/cb", "ftp://example.com/cb", "https://example.com/cb?kg_sig=x",
		"https://example.com/cb?kg_ref=c1", "https://example.com/cb?a=1&kg_ref=", "https://example.com/cb?a=%zz", "http://[::1"} {
		_, err := signer.SignURL(bad, "c1")
		assert.Error(t, err, bad)
	}
	_, err = signer.SignURL("https://example.com/cb", "")
	assert.ErrorContains(t, err, "customer reference is empty")
	_, err = (&CallbackSigner{}).SignURL("https://example.com/cb", "c1")
	assert.ErrorContains(t, err, "use NewCallbackSigner")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, signer)
		assert.NotContains(t, out, string(secretA), verb)
		assert.NotContains(t, out, fmt.Sprintf("%x", secretA), verb)
	}
}

func TestNewSignedCallbackRequestPayloads(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	var summary TaskSummary
	require.NoError(t, json.Unmarshal(fixture(t, "task_summary.json"), &summary))
	for name, payload := range map[string]any{
		"model with raw JSON": &summary,
		"bytes":               fixture(t, "task_summary.json"),
		"built in code":       &TaskSummary{TaskID: 123, Progress: 100},
		"map":                 map[string]any{"task_id": 123},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := NewSignedCallbackRequest(signer, "https://example.com/cb", "c1", payload)
			require.NoError(t, err, name)
			require.NoError(t, signer.Verify(req), name)
			assert.Equal(t, "c1", req.URL.Query().Get(ReferenceParam), name)
			var got TaskSummary
			require.NoError(t, json.NewDecoder(req.Body).Decode(&got), name)
			assert.Equal(t, ID(123), got.TaskID, name)
		})
	}
	_, err := NewSignedCallbackRequest(signer, "not a url", "c1", nil)
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(signer, "https://example.com/cb", "", nil)
	assert.ErrorContains(t, err, "customer reference is empty")
	_, err = NewSignedCallbackRequest(nil, "https://example.com/cb", "", map[string]any{"f": func() {}})
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "http://[::1", "", []byte("{}"))
	assert.Error(t, err)
	_, err = NewSignedCallbackRequest(nil, "http://[::1", "c1", []byte("{}"))
	assert.Error(t, err)

	unsigned, err := NewSignedCallbackRequest(nil, "https://example.com/cb?x=1", "c1", []byte("{}"))
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/cb?x=1&kg_ref=c1", unsigned.URL.String(), "an unsigned reference, for tests of forgeries")
	assert.ErrorIs(t, signer.Verify(unsigned), ErrInvalidSignature)
}

// TestCreateRefusesCallbackOfAnotherCustomer: a callback URL signed for
// one customer on a request for another would lose every callback (the
// handler refuses them), so it is a ValidationError before sending.
func TestCreateRefusesCallbackOfAnotherCustomer(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	for42 := signFor(t, signer, "https://hooks.example.com/cb", "c42").String()
	twice := for42 + "&kg_ref=c42"
	img := ImageFromBytes(testJPEG(t, 640, 400))
	for _, tc := range []struct {
		name  string
		field string
		call  func(context.Context, *Client) error
	}{
		{"Tasks.Create", "[0].callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Co"), CustomerReference: "c43", CallbackURL: for42}})
			return err
		}},
		{"Tasks.Create without a reference", "[0].callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Co"), FromIDVID: 3, CallbackURL: for42}})
			return err
		}},
		{"Tasks.Create signed twice", "[0].callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Create(ctx, []CreateTaskRequest{{SearchSettingID: 1, Target: KYBTarget("Co"), CustomerReference: "c42", CallbackURL: twice}})
			return err
		}},
		{"IDV.Create", "callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, IDImage: img, FaceImage: img,
				CustomerReference: "c43", CallbackURL: for42})
			return err
		}},
		{"IDV.Create DD task", "dd_task_callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.Create(ctx, &CreateIDVRequest{Country: "TWN", IDType: IDTypePassport, IDImage: img, FaceImage: img,
				CustomerReference: "c43", AutoCreateDDTask: true, DDTaskSearchSettingID: 2, DDTaskCallbackURL: for42})
			return err
		}},
		{"IDV.InitWeb", "callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "USA",
				CustomerReference: "c43", CallbackURL: for42})
			return err
		}},
		{"IDV.InitWeb DD task", "dd_task_callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitWeb(ctx, &InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "USA",
				CustomerReference: "c43", AutoCreateDDTask: true, DDTaskSearchSettingID: 2, DDTaskCallbackURL: for42})
			return err
		}},
		{"IDV.InitMobile", "callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", CustomerReference: "c43", CallbackURL: for42})
			return err
		}},
		{"IDV.InitMobile without a reference", "callback_url", func(ctx context.Context, c *Client) error {
			_, err := c.IDV.InitMobile(ctx, &InitMobileIDVRequest{Country: "TWN", CallbackURL: for42})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, mux := setup(t)
			var sent atomic.Int32
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { sent.Add(1) })
			err := tc.call(t.Context(), client)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.Len(t, verr.Fields, 1, "%v", err)
			assert.Equal(t, tc.field, verr.Fields[0].Field)
			assert.Contains(t, verr.Fields[0].Message, "kg_ref")
			assert.NotContains(t, err.Error(), "c42", "the reference's value is not echoed")
			assert.Equal(t, int32(0), sent.Load(), "nothing is sent")
		})
	}
}

// TestCreateRefusesCallbackWithUnparsableQuery: url.ParseQuery drops a pair
// it cannot parse (a ';', a bad escape) and reports it only as an error, so
// ignoring that error let a kg_ref of another customer through. The
// validator and the handler parse a callback query with one function, and
// a query that does not parse is refused at both ends.
func TestCreateRefusesCallbackWithUnparsableQuery(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	signed := signFor(t, signer, "https://hooks.example.com/cb", "c42")
	sig := signed.Query().Get(SignatureParam)
	const hook = "https://hooks.example.com/cb?"
	for name, cb := range map[string]string{
		"kg_ref pair ending in a semicolon": hook + "kg_ref=c42;&kg_sig=" + sig,
		"kg_ref with a bad escape":          hook + "kg_ref=c42%zz&kg_sig=" + sig,
		"semicolon separator":               hook + "a=1;kg_ref=c42",
		"bad escape in a key":               hook + "kg%zzref=c42",
		"bad escape in another value":       hook + "kg_ref=c43&x=%zz",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := validateCreateTasks([]CreateTaskRequest{{
				SearchSettingID: 1, Target: KYBTarget("Co"), CallbackURL: cb, CustomerReference: "c43",
			}})
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.Len(t, verr.Fields, 1, "%v", err)
			assert.Equal(t, "[0].callback_url", verr.Fields[0].Field)
			assert.NotContains(t, err.Error(), "c42", "the reference's value is not echoed")
			assert.NotContains(t, err.Error(), "zz", "nor any part of the query")

			_, err = prepare(&InitWebIDVRequest{IDType: IDTypePassport, WorkflowID: WorkflowIDOnly, Country: "USA", CustomerReference: "c43",
				AutoCreateDDTask: true, DDTaskSearchSettingID: 2, DDTaskCallbackURL: cb})
			assert.Equal(t, []string{"dd_task_callback_url"}, fieldsOf(t, err))

			assert.ErrorIs(t, signer.VerifyURL(mustParseURL(t, cb)), ErrInvalidSignature, "the handler refuses what the validator refuses")
		})
	}
	t.Run("an escaped kg_ref name is kg_ref", func(t *testing.T) {
		_, err := validateCreateTasks([]CreateTaskRequest{{
			SearchSettingID: 1, Target: KYBTarget("Co"), CallbackURL: hook + "kg%5Fref=c42&kg_sig=" + sig, CustomerReference: "c43",
		}})
		assert.Equal(t, []string{"[0].callback_url"}, fieldsOf(t, err))
	})
}

func TestCreateAcceptsCallbackOfItsCustomer(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	client, mux := setup(t)
	var body []byte
	mux.HandleFunc("/task", func(w http.ResponseWriter, r *http.Request) {
		var err error
		body, err = io.ReadAll(r.Body)
		assert.NoError(t, err)
		_, _ = w.Write([]byte(`[{"task_id": 1, "timestamp": 1}, {"task_id": 2, "timestamp": 1}]`))
	})
	for42 := signFor(t, signer, "https://hooks.example.com/cb", "c42").String()
	_, err := client.Tasks.Create(t.Context(), []CreateTaskRequest{
		{SearchSettingID: 1, Target: KYBTarget("Co"), CustomerReference: "c42", CallbackURL: for42},
		{SearchSettingID: 1, Target: KYBTarget("Co"), CustomerReference: "c43", CallbackURL: "https://hooks.example.com/unsigned?customer=43"},
	})
	require.NoError(t, err)
	assert.Contains(t, string(body), `"callback_url":"`+strings.ReplaceAll(for42, "&", `\u0026`)+`"`)
}

// FuzzVerify feeds Verify arbitrary URLs (it must refuse them without
// panicking) and checks the round trip: what SignURL signs verifies, with
// the reference it was signed for, and any change to a parameter, the
// host or the path is refused.
func FuzzVerify(f *testing.F) {
	signer := newSigner(f, secretA)
	for _, seed := range [][3]string{
		{"https://example.com/cb?customer=42", "c42", "x"},
		{"http://127.0.0.1:8080/a%2Fb/c?x=1&x=2", "ref with space", "y"},
		{"https://EXAMPLE.com:443/", "é", ""},
		{"https://[::1]:443/cb?kg=1", "1", "kg_ref"},
		{"https://example.com/cb?kg_ref=a&kg_sig=AAAA", "a", "kg_sig"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	signed, _ := signer.SignURL("https://example.com/cb?customer=42", "c42")
	f.Add(signed, "c42", "customer")
	f.Fuzz(func(t *testing.T, rawURL, ref, key string) {
		if u, err := url.Parse(rawURL); err == nil {
			if err := signer.VerifyURL(u); err != nil && !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("an error that is not ErrInvalidSignature: %v", err)
			}
		}
		signedURL, err := signer.SignURL(rawURL, ref)
		if err != nil {
			return
		}
		checkRoundTrip(t, signer, signedURL, ref, key)
	})
}

// checkRoundTrip asserts that signedURL verifies for ref and that no change
// of its parameters, host or path does.
func checkRoundTrip(t *testing.T, signer *CallbackSigner, signedURL, ref, key string) {
	u, err := url.Parse(signedURL)
	if err != nil {
		t.Fatalf("SignURL returned an unparsable URL %q: %v", signedURL, err)
	}
	if err := signer.VerifyURL(u); err != nil {
		t.Fatalf("a signed URL does not verify: %q: %v", signedURL, err)
	}
	if got := u.Query().Get(ReferenceParam); got != ref {
		t.Fatalf("kg_ref %q, signed for %q", got, ref)
	}
	for name, edit := range map[string]func(*url.URL){
		"added param":        func(u *url.URL) { u.RawQuery += "&" + url.QueryEscape(key+"_") + "=1" },
		"changed ref":        func(u *url.URL) { q := u.Query(); q.Set(ReferenceParam, ref+"x"); u.RawQuery = q.Encode() },
		"dropped param":      func(u *url.URL) { q := u.Query(); q.Del(firstKey(q)); u.RawQuery = q.Encode() },
		"changed value":      func(u *url.URL) { q := u.Query(); k := firstKey(q); q.Set(k, q.Get(k)+"x"); u.RawQuery = q.Encode() },
		"other host":         func(u *url.URL) { u.Host = "x" + u.Host },
		"longer path":        func(u *url.URL) { u.Path, u.RawPath = u.Path+"x", "" },
		"host moved to path": func(u *url.URL) { u.Path, u.RawPath, u.Host = "/"+u.Host+u.Path, "", "h" },
	} {
		t.Run(name, func(t *testing.T) {
			c := editURL(u, edit)
			if err := signer.VerifyURL(c); err == nil {
				t.Fatalf("%s: %q verifies after the change to %q", name, signedURL, c.String())
			}
		})
	}
}

// firstKey is the first parameter other than the signature, in sorted
// order: kg_ref when it is the only one.
func firstKey(q url.Values) string {
	best := ReferenceParam
	for k := range q {
		if k != SignatureParam && k < best {
			best = k
		}
	}
	return best
}

// TestSignURLErrorOmitsTheURL: a callback URL's query may carry a token or
// a customer's data; the error says what is wrong without repeating it.
func TestSignURLErrorOmitsTheURL(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	tests := map[string]string{
		"relative":      "/cb?token=s3cr3t-token",
		"no scheme":     "example.com/cb?token=s3cr3t-token",
		"ftp":           "ftp://example.com/cb?token=s3cr3t-token",
		"unparsable":    "http://[::1/cb?token=s3cr3t-token",
		"control bytes": "https://example.com/cb?token=s3cr3t-token\x7f",
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := signer.SignURL(bad, "c1")
			require.ErrorContains(t, err, "not an absolute http(s) URL")
			assert.NotContains(t, err.Error(), "s3cr3t-token")
		})
	}
}

// TestSignerPrintsNoSecretByValue: a signer printed by value, by pointer or
// inside a struct holding it by value shows no secret.
func TestSignerPrintsNoSecretByValue(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, secretA)
	type holder struct {
		Name   string
		Signer CallbackSigner
	}
	type pointerHolder struct{ Signer *CallbackSigner }
	tests := map[string]any{
		"value":          *signer,
		"pointer":        signer,
		"nested value":   holder{Name: "hooks", Signer: *signer},
		"nested pointer": pointerHolder{Signer: signer},
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
				out := fmt.Sprintf(verb, v)
				assert.NotContains(t, out, string(secretA), verb)
				assert.NotContains(t, out, fmt.Sprintf("%x", secretA), verb)
				assert.NotContains(t, out, strings.Trim(fmt.Sprint(secretA[:8]), "[]"), verb) // a []byte printed as numbers
			}
		})
	}
}

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
