// Package exampleenv gives the examples a client: for the real API when
// KRYPTOGO_API_KEY is set, else for an in-process fake, so every example
// runs on a fresh machine with no account. Copying an example into your
// code? Replace exampleenv.Client with kryptogo.NewClientFromEnv().
package exampleenv

import (
	"fmt"
	"io"
	"os"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// Env is where an example runs.
type Env struct {
	Client *kryptogo.Client
	// Fake is the in-process fake, or nil against the real API.
	Fake *kryptogotest.Server
}

// Close stops the fake, if any.
func (e *Env) Close() {
	if e.Fake != nil {
		e.Fake.Close()
	}
}

// Real reports whether the example talks to the real API.
func (e *Env) Real() bool { return e.Fake == nil }

// New returns the environment and says on out's first line which API the
// example talks to. fakeOpts configure the fake.
func New(out io.Writer, fakeOpts ...kryptogotest.Option) (*Env, error) {
	if os.Getenv(kryptogo.EnvAPIKey) != "" {
		client, err := kryptogo.NewClientFromEnv()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "Using the real KryptoGO API at %s (KRYPTOGO_API_KEY is set): calls cost points.\n", client.BaseURL())
		return &Env{Client: client}, nil
	}
	fake := kryptogotest.NewServer(fakeOpts...)
	fmt.Fprintf(out, "KRYPTOGO_API_KEY is not set: using the in-process fake API (kryptogotest) at %s.\n", fake.URL)
	return &Env{Client: fake.Client(), Fake: fake}, nil
}
