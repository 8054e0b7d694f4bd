// Command batch-screening screens a list of blockchain addresses with
// KYA.Screen (bounded concurrency, results in input order) and prints a
// table of each address's chain, SDN-list matches and transaction count.
// For a long list it reports progress (done/total) on stderr.
//
//	go run ./examples/batch-screening                  # the sample addresses
//	go run ./examples/batch-screening -file my-list.txt -concurrency 16
//
// Without KRYPTOGO_API_KEY it runs against an in-process fake of the API,
// which reports the first sample address (the API reference's) as
// sanctioned, as every kryptogotest fake does. Each screening costs
// points on the real API.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "batch-screening:", err)
		os.Exit(1)
	}
}

// sampleAddresses is compiled in, so that the binary runs from any directory
// (go install, go build -trimpath), not only inside the repository.
//
//go:embed addresses.txt
var sampleAddresses string

// progressMin is the shortest list whose progress is reported.
const progressMin = 20

func run(ctx context.Context, out, progressOut io.Writer, args []string) error {
	flags := flag.NewFlagSet("batch-screening", flag.ContinueOnError)
	file := flags.String("file", "", "addresses, one per line; # starts a comment (default: sample addresses)")
	concurrency := flags.Int("concurrency", kryptogo.DefaultScreenConcurrency, "screenings in flight at once")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *concurrency < 1 {
		return fmt.Errorf("-concurrency must be at least 1")
	}
	addresses, err := readAddresses(*file)
	if err != nil {
		return err
	}
	env, err := exampleenv.New(out)
	if err != nil {
		return err
	}
	defer env.Close()

	reqs := make([]kryptogo.CreateKYARequest, len(addresses))
	for i, addr := range addresses {
		reqs[i].Address = addr // the chain is detected from the address
	}
	// The client retries transient failures, never retries a POST that
	// reached the API, and pauses every worker when the API answers 429.
	results := env.Client.KYA.Screen(ctx, reqs, &kryptogo.ScreenOptions{
		Concurrency: *concurrency,
		Progress:    progress(progressOut, len(reqs)),
	})
	return printTable(out, results)
}

// readAddresses reads the address list in the file at path, or the sample
// list when path is empty.
func readAddresses(path string) ([]string, error) {
	if path == "" {
		return parseAddresses(strings.NewReader(sampleAddresses))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseAddresses(f)
}

// parseAddresses returns the addresses of a list, one a line, skipping blank
// lines and # comments.
func parseAddresses(r io.Reader) ([]string, error) {
	var addresses []string
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			addresses = append(addresses, line)
		}
	}
	return addresses, scanner.Err()
}

// progress returns a Progress callback that reports about every tenth of a
// list of at least progressMin addresses on w, or nil for a shorter list.
func progress(w io.Writer, total int) func(done, total int) {
	if total < progressMin {
		return nil
	}
	step := max(total/10, 1)
	return func(done, total int) {
		if done%step == 0 || done == total {
			fmt.Fprintf(w, "screened %d/%d\n", done, total)
		}
	}
}

func printTable(out io.Writer, results []kryptogo.ScreenResult) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tCHAIN\tSDN MATCHES\tTRANSACTIONS\tERROR")
	for _, r := range results {
		addr := r.Request.Address
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%v\n", addr, r.Err)
			continue
		}
		chain, _ := kryptogo.DetectChain(addr)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", addr, chain, r.Result.SDNCount(), r.Result.TxCount())
	}
	return tw.Flush()
}
