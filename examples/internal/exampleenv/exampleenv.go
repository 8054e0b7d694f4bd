// Package exampleenv gives the examples a client: for the API at
// KRYPTOGO_BASE_URL when KRYPTOGO_API_KEY is set (the real API, or a fake
// started with kryptogo-fake), else for an in-process fake, so every example
// runs on a fresh machine with no account. Copying an example into your
// code? Replace exampleenv.Client with kryptogo.NewClientFromEnv().
package exampleenv

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// Env is where an example runs.
type Env struct {
	Client *kryptogo.Client
	// Fake is the in-process fake, or nil against an API of another
	// process (the real API, or kryptogo-fake).
	Fake *kryptogotest.Server
	real bool
}

// Real reports whether the example talks to the real API, where calls cost
// points (not to a fake, in process or not).
func (e *Env) Real() bool { return e.real }

// Close stops the fake, if any.
func (e *Env) Close() {
	if e.Fake != nil {
		e.Fake.Close()
	}
}

// New returns the environment and says on out's first line which API the
// example talks to. fakeOpts configure the in-process fake.
func New(out io.Writer, fakeOpts ...kryptogotest.Option) (*Env, error) {
	if key := os.Getenv(kryptogo.EnvAPIKey); key != "" {
		client, err := kryptogo.NewClientFromEnv()
		if err != nil {
			return nil, err
		}
		real := !isFake(client.BaseURL(), key)
		fmt.Fprintln(out, Describe(client.BaseURL(), key))
		return &Env{Client: client, real: real}, nil
	}
	fake := kryptogotest.NewServer(fakeOpts...)
	fmt.Fprintf(out, "KRYPTOGO_API_KEY is not set: using the in-process fake API (kryptogotest) at %s.\n", fake.URL)
	return &Env{Client: fake.Client(), Fake: fake}, nil
}

// isFake reports whether the API at baseURL is a fake: it listens on
// loopback (the real API does not) or accepts the fake's key.
func isFake(baseURL, key string) bool {
	return onLoopback(baseURL) || key == kryptogotest.DefaultAPIKey
}

// Describe names the API at baseURL, reached with key, and says why.
func Describe(baseURL, key string) string {
	switch {
	case onLoopback(baseURL):
		return fmt.Sprintf("Using a fake KryptoGO API at %s (KRYPTOGO_BASE_URL is on loopback): no points are spent.", baseURL)
	case isFake(baseURL, key):
		return fmt.Sprintf("Using a fake KryptoGO API at %s (KRYPTOGO_API_KEY is the fake's): no points are spent.", baseURL)
	}
	return fmt.Sprintf("Using the real KryptoGO API at %s (KRYPTOGO_API_KEY is set): calls cost points.", baseURL)
}

// onLoopback reports whether the URL's host is localhost or a loopback
// address.
func onLoopback(baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
