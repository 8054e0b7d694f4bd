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
	opts, err := completionOptions(*completion, *delay)
	if err != nil {
		return err
	}
	opts = append(opts, kryptogotest.WithAPIKey(*key))
	if *sanctioned != "" {
		opts = append(opts, kryptogotest.WithSanctionedAddresses(strings.Split(*sanctioned, ",")...))
	}
	if *rfc3339 {
		opts = append(opts, kryptogotest.WithRFC3339InitTimestamp())
	}
	srv, err := kryptogotest.Listen(*addr, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "fake KryptoGO API at %s\n", srv.URL)
	fmt.Fprintf(out, "export KRYPTOGO_BASE_URL=%s KRYPTOGO_API_KEY=%s\n", srv.URL, srv.APIKey)
	<-ctx.Done()
	return nil
}

// completionOptions turns the -complete and -delay flags into options:
// none for now, the fake's default.
func completionOptions(mode string, delay time.Duration) ([]kryptogotest.Option, error) {
	switch mode {
	case "now":
		return nil, nil
	case "delay":
		return []kryptogotest.Option{kryptogotest.WithCompletionDelay(delay)}, nil
	case "manual":
		return []kryptogotest.Option{kryptogotest.WithManualCompletion()}, nil
	}
	return nil, fmt.Errorf("-complete %q: want now, delay or manual", mode)
}
