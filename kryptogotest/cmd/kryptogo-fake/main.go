// Command kryptogo-fake serves the in-memory fake KryptoGO API for front-end
// work and manual testing.
//
//	go run ./kryptogotest/cmd/kryptogo-fake -addr 127.0.0.1:8787
//
// It prints the base URL and the API key, then serves until interrupted.
// Point a client at it with KRYPTOGO_BASE_URL and KRYPTOGO_API_KEY.
//
// With no flag it answers as kryptogotest.NewServer() does: the flags map to
// the package's options, and a flag not given adds none, so the defaults
// are the package's own. The flags:
//
//	-addr 127.0.0.1:8787          address to listen on
//	-key KEY                      API key the fake accepts (WithAPIKey)
//	-complete now|delay|manual    when tasks finish (WithCompletionDelay, WithManualCompletion)
//	-delay 5s                     the delay of -complete delay (ignored otherwise)
//	-sanctioned A,B               addresses KYA reports as sanctioned (WithSanctionedAddresses)
//	-risk 'Jane Roe=51'           the outcome of a target's tasks, repeatable; '=90,sanctioned' adds a match (SetTargetRisk)
//	-idv-outcome accept|review|reject  how IDV tasks finish (WithIDVOutcome)
//	-latency 200ms                delay every answer (WithLatency)
//	-history-lag 2s               list a new task in GET /tasks only after this (WithHistoryLag)
//	-rate-limit 10/1s             answer 429 beyond n requests per span (WithRateLimit)
//	-rfc3339-init=false           POST /idv/init timestamp in unix seconds (WithUnixInitTimestamp)
//	-callback-retries 3 -callback-backoff 50ms  callback attempts (WithCallbackRetries)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
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
	s, err := parse(out, args)
	if err != nil {
		return err
	}
	srv, err := s.serve()
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "fake KryptoGO API at %s\n", srv.URL)
	fmt.Fprintf(out, "export KRYPTOGO_BASE_URL=%s KRYPTOGO_API_KEY=%s\n", srv.URL, srv.APIKey)
	<-ctx.Done()
	return nil
}

// serve starts the fake the settings describe.
func (s *settings) serve() (*kryptogotest.Server, error) {
	srv, err := kryptogotest.Listen(s.addr, s.options...)
	if err != nil {
		return nil, err
	}
	for name, outcome := range s.risks {
		srv.SetTargetRisk(name, outcome)
	}
	return srv, nil
}

// settings are what the flags ask for: the address, the options of the
// flags given (none for a flag left out), and the targets' outcomes.
type settings struct {
	addr    string
	options []kryptogotest.Option
	risks   map[string]kryptogotest.TaskOutcome
}

func parse(out io.Writer, args []string) (*settings, error) {
	s := &settings{risks: map[string]kryptogotest.TaskOutcome{}}
	flags := flag.NewFlagSet("kryptogo-fake", flag.ContinueOnError)
	flags.SetOutput(out)
	flags.StringVar(&s.addr, "addr", "127.0.0.1:8787", "address to listen on")
	flags.String("key", kryptogotest.DefaultAPIKey, "API key the fake accepts")
	flags.String("complete", "now", "when tasks finish: now, delay or manual")
	delay := flags.Duration("delay", 5*time.Second, "completion delay with -complete delay")
	flags.String("sanctioned", "", "comma-separated addresses to report as sanctioned, besides "+kryptogotest.SampleSanctionedAddress)
	flags.Func("risk", "`name=risk[,sanctioned]`: the outcome of the tasks on a target (repeatable)", s.addRisk)
	flags.String("idv-outcome", "accept", "how IDV tasks finish on their own: accept, review or reject")
	flags.Duration("latency", 0, "delay of every answer")
	flags.Duration("history-lag", 0, "how long after its creation a task shows in GET /tasks")
	flags.String("rate-limit", "", "`n/span` (10/1s): answer 429 beyond n requests in any span")
	flags.Bool("rfc3339-init", true, "answer POST /idv/init's timestamp in RFC 3339, like the real API (false: unix seconds)")
	flags.Int("callback-retries", 3, "attempts per callback")
	flags.Duration("callback-backoff", 50*time.Millisecond, "pause before the first callback retry, doubling")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	var err error
	flags.Visit(func(f *flag.Flag) {
		if err == nil {
			err = s.apply(flags, f, *delay)
		}
	})
	return s, err
}

// apply adds the option of a flag given.
func (s *settings) apply(flags *flag.FlagSet, f *flag.Flag, delay time.Duration) error {
	value := f.Value.String()
	var opt kryptogotest.Option
	var err error
	switch f.Name {
	case "key":
		opt = kryptogotest.WithAPIKey(value)
	case "complete":
		var opts []kryptogotest.Option
		opts, err = completionOptions(value, delay)
		s.options = append(s.options, opts...)
	case "sanctioned":
		opt = kryptogotest.WithSanctionedAddresses(strings.Split(value, ",")...)
	case "idv-outcome":
		opt, err = idvOutcomeOption(value)
	case "latency":
		opt = kryptogotest.WithLatency(f.Value.(flag.Getter).Get().(time.Duration))
	case "history-lag":
		opt = kryptogotest.WithHistoryLag(f.Value.(flag.Getter).Get().(time.Duration))
	case "rate-limit":
		opt, err = rateLimitOption(value)
	case "rfc3339-init":
		opt = kryptogotest.WithRFC3339InitTimestamp()
		if value == "false" {
			opt = kryptogotest.WithUnixInitTimestamp()
		}
	case "callback-retries", "callback-backoff":
		opt = callbackOption(flags)
	}
	if opt != nil {
		s.options = append(s.options, opt)
	}
	return err
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

func idvOutcomeOption(state string) (kryptogotest.Option, error) {
	states := map[string]kryptogo.IDVState{"accept": kryptogo.IDVAccept, "review": kryptogo.IDVReview, "reject": kryptogo.IDVReject}
	st, ok := states[state]
	if !ok {
		return nil, fmt.Errorf("-idv-outcome %q: want accept, review or reject", state)
	}
	return kryptogotest.WithIDVOutcome(kryptogotest.IDVOutcome{State: st}), nil
}

// rateLimitOption reads n/span ("10/1s").
func rateLimitOption(v string) (kryptogotest.Option, error) {
	count, span, ok := strings.Cut(v, "/")
	n, nErr := strconv.Atoi(count)
	per, perErr := time.ParseDuration(span)
	if !ok || nErr != nil || perErr != nil || n <= 0 || per <= 0 {
		return nil, fmt.Errorf("-rate-limit %q: want n/span, such as 10/1s", v)
	}
	return kryptogotest.WithRateLimit(n, per), nil
}

// callbackOption reads -callback-retries and -callback-backoff together
// (one of them may be left at its default).
func callbackOption(flags *flag.FlagSet) kryptogotest.Option {
	attempts := flags.Lookup("callback-retries").Value.(flag.Getter).Get().(int)
	backoff := flags.Lookup("callback-backoff").Value.(flag.Getter).Get().(time.Duration)
	return kryptogotest.WithCallbackRetries(attempts, backoff)
}

// addRisk reads one -risk: "name=risk" or "name=risk,sanctioned".
func (s *settings) addRisk(v string) error {
	name, outcome, ok := strings.Cut(v, "=")
	score, sanctioned := strings.CutSuffix(outcome, ",sanctioned")
	risk, err := strconv.Atoi(score)
	if !ok || name == "" || err != nil || risk < 0 || risk > 100 {
		return fmt.Errorf("want name=risk (0-100), optionally followed by ,sanctioned")
	}
	s.risks[name] = kryptogotest.TaskOutcome{PotentialRisk: risk, SanctionMatched: sanctioned}
	return nil
}
