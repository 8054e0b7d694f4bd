// Command batch-screening screens a list of blockchain addresses with
// bounded concurrency and prints a table of each address's chain, SDN-list
// matches and transaction count.
//
//	go run ./examples/batch-screening                  # the sample addresses
//	go run ./examples/batch-screening -file my-list.txt -concurrency 8
//
// Without KRYPTOGO_API_KEY it runs against an in-process fake of the API,
// which reports the first sample address as sanctioned. Each screening costs
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
	"sync"
	"text/tabwriter"
	"time"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/examples/internal/exampleenv"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "batch-screening:", err)
		os.Exit(1)
	}
}

// Row is the outcome of one screening.
type Row struct {
	Address string
	Result  *kryptogo.KYAResult
	Err     error
}

// sampleAddresses is compiled in, so that the binary runs from any directory
// (go install, go build -trimpath), not only inside the repository.
//
//go:embed addresses.txt
var sampleAddresses string

func run(ctx context.Context, out io.Writer, args []string) error {
	flags := flag.NewFlagSet("batch-screening", flag.ContinueOnError)
	file := flags.String("file", "", "addresses, one per line; # starts a comment (default: sample addresses)")
	concurrency := flags.Int("concurrency", 4, "screenings in flight at once")
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
	env, err := exampleenv.New(out, kryptogotest.WithSanctionedAddresses("0x72a5843cc08275C8171E582972Aa4fDa8C397B2A"))
	if err != nil {
		return err
	}
	defer env.Close()

	rows := screen(ctx, env.Client, addresses, *concurrency)
	return printTable(out, rows)
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

// screen runs at most limit screenings at once and returns the rows in the
// order of addresses. The client is safe for concurrent use, retries
// transient failures, and never retries a POST that reached the API.
func screen(ctx context.Context, client *kryptogo.Client, addresses []string, limit int) []Row {
	rows := make([]Row, len(addresses))
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, addr := range addresses {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			res, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: addr})
			rows[i] = Row{Address: addr, Result: res, Err: err}
		}()
	}
	wg.Wait()
	return rows
}

func printTable(out io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tCHAIN\tSDN MATCHES\tTRANSACTIONS\tERROR")
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%v\n", r.Address, r.Err)
			continue
		}
		chain, _ := kryptogo.DetectChain(r.Address)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", r.Address, chain, r.Result.SDNCount(), r.Result.TxCount())
	}
	return tw.Flush()
}
