// Command kryptogo-fake serves the in-memory fake KryptoGO API for front-end
// work and manual testing.
//
//	go run ./kryptogotest/cmd/kryptogo-fake -addr 127.0.0.1:8787
//
// It prints the base URL and the API key, then serves until interrupted.
// Point a client at it with KRYPTOGO_BASE_URL and KRYPTOGO_API_KEY.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kyabc/kryptogo-go/kryptogotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kryptogo-fake:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	flags := flag.NewFlagSet("kryptogo-fake", flag.ContinueOnError)
	flags.SetOutput(out)
	addr := flags.String("addr", "127.0.0.1:8787", "address to listen on")
	key := flags.String("key", kryptogotest.DefaultAPIKey, "API key the fake accepts")
	completion := flags.String("complete", "now", "when tasks finish: now, delay or manual")
	delay := flags.Duration("delay", 5*time.Second, "completion delay with -complete delay")
	sanctioned := flags.String("sanctioned", "", "comma-separated addresses to report as sanctioned")
	rfc3339 := flags.Bool("rfc3339-init", true, "answer POST /idv/init's timestamp in RFC 3339, like the real API")
	if err := flags.Parse(args); err != nil {
		return err
	}
	mode, err := parseCompletion(*completion)
	if err != nil {
		return err
	}
	opts := []kryptogotest.Option{kryptogotest.WithAddr(*addr), kryptogotest.WithAPIKey(*key), kryptogotest.WithCompletion(mode, *delay)}
	if *sanctioned != "" {
		opts = append(opts, kryptogotest.WithSanctionedAddresses(strings.Split(*sanctioned, ",")...))
	}
	if *rfc3339 {
		opts = append(opts, kryptogotest.WithRFC3339InitTimestamp())
	}
	srv, err := start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "fake KryptoGO API at %s\n", srv.URL)
	fmt.Fprintf(out, "export KRYPTOGO_BASE_URL=%s KRYPTOGO_API_KEY=%s\n", srv.URL, srv.APIKey)
	<-ctx.Done()
	return nil
}

// start turns the fake's panic on a busy address into an error.
func start(opts []kryptogotest.Option) (srv *kryptogotest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return kryptogotest.NewServer(opts...), nil
}

func parseCompletion(s string) (kryptogotest.Completion, error) {
	switch s {
	case "now":
		return kryptogotest.CompleteAtOnce, nil
	case "delay":
		return kryptogotest.CompleteAfterDelay, nil
	case "manual":
		return kryptogotest.CompleteManually, nil
	}
	return 0, fmt.Errorf("-complete %q: want now, delay or manual", s)
}
