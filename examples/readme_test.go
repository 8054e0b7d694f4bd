package examples_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every ```go block of README.md compiles: TestREADMEGoBlocksCompile puts
// each into a package of its own, after a preamble that declares what the
// fragments assume (a client, a context, an error, your application's
// store), and builds them with go build. The packages exist only in a go build
// overlay: nothing is written into the source tree.
//
// A block says what it is on the line before its fence, in an HTML comment
// that Markdown does not show:
//
//	<!-- go:statements -->  statements of a function body; the names it
//	                         declares at its top level need no further use
//	<!-- go:file -->        declarations (functions, types) of a file
//	<!-- go:in PATH -->     lines of PATH (from the repository's root), a
//	                         file of another module (redisstore, sqlstore)
//	                         that its own tests compile: the block's lines,
//	                         indentation aside, appear there in a row
//
// A block with neither fails the test, so that one added later declares
// itself.

// readmeBlock is a ```go block of README.md.
type readmeBlock struct {
	line int    // of the first line of code
	kind string // "statements", "file", "in", or "" when undeclared
	in   string // the file of a go:in block
	code string
}

// readmeKind reads a block's declaration.
var readmeKind = regexp.MustCompile(`^<!--\s*go:(\w+)(?:\s+(\S+))?\s*-->$`)

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var blocks []readmeBlock
	var current *readmeBlock
	previous := ""
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		line := scanner.Text()
		switch {
		case current == nil && line == "```go":
			current = &readmeBlock{line: n + 1}
			if m := readmeKind.FindStringSubmatch(strings.TrimSpace(previous)); m != nil {
				current.kind, current.in = m[1], m[2]
			}
		case current != nil && line == "```":
			blocks = append(blocks, *current)
			current = nil
		case current != nil:
			current.code += line + "\n"
		}
		previous = line
	}
	require.NoError(t, scanner.Err())
	require.Nil(t, current, "README.md ends inside a ```go block")
	return blocks
}

// readmeImports are the packages the blocks may use; the preamble uses
// each, so a block need not.
const readmeImports = `import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

var (
	_ = context.Background
	_ = errors.As
	_ = fmt.Sprint
	_ = log.Print
	_ = http.StatusOK
	_ = os.Getenv
	_ = time.Second
	_ = testing.Short
	_ = require.NoError
	_ = kryptogotest.NewServer
)
`

// readmePreamble declares what the fragments assume.
const readmePreamble = `// What the README's fragments assume: a client and a context, the id of a
// task, an error to inspect, and the parts of your application.
var (
	ctx       context.Context
	client    *kryptogo.Client
	id        kryptogo.ID
	err       error
	reqs      []kryptogo.CreateKYARequest
	limiter   kryptogo.RateLimiter
	signedURL string
	selfie    []byte
	secret    []byte
	customer  Customer
	store     interface {
		SaveOnce(key, customer string, task *kryptogo.TaskSummary) error
		SaveIDV(task *kryptogo.IDVTask) error
	}
	// shared is the replicas' store: a redisstore or sqlstore Store.
	shared interface {
		kryptogo.IdempotencyStore
		kryptogo.CallbackStore
		kryptogo.PauseStore
	}
)

// Customer is one of your application's customers.
type Customer struct{ ID string }

// Onboarding is your application's code under test.
type Onboarding struct{ client *kryptogo.Client }

func NewOnboarding(client *kryptogo.Client) *Onboarding { return &Onboarding{client} }

// Start screens the customer and returns the id of the task it created.
func (o *Onboarding) Start(ctx context.Context, c Customer) kryptogo.ID { return 0 }
`

// source is the Go file of a block: the package, the imports and the
// preamble, then the block, whose positions //line directives report as
// README.md's.
func (b readmeBlock) source(pkg string) (string, error) {
	var s strings.Builder
	fmt.Fprintf(&s, "package %s\n\n%s\n%s\n", pkg, readmeImports, readmePreamble)
	switch b.kind {
	case "file":
		fmt.Fprintf(&s, "//line README.md:%d\n%s", b.line, b.code)
	case "statements":
		sinks := declaredNames(b.code)
		fmt.Fprintf(&s, "func _() {\n//line README.md:%d\n%s", b.line, b.code)
		for _, name := range sinks {
			fmt.Fprintf(&s, "\t_ = %s\n", name)
		}
		s.WriteString("}\n")
	default:
		return "", fmt.Errorf("a ```go block must say what it is on the line before it: <!-- go:statements --> or <!-- go:file -->")
	}
	return s.String(), nil
}

// topLevelDeclaration matches a line that declares names at a block's top
// level: README blocks are gofmt'd fragments of a function body, so their
// top level is not indented ("created, err := ...", "var verr T").
var topLevelDeclaration = regexp.MustCompile(`^(?:var\s+(\w+)\b|(\w+(?:\s*,\s*\w+)*)\s*:=)`)

// declaredNames lists the names that statements declare at their top level
// (with := or var), which a fragment may leave unused. (A line scan rather
// than go/parser: a fresh clone's first go test ./... would compile go/ast
// and its kin for this alone.)
func declaredNames(code string) []string {
	seen := map[string]bool{}
	var names []string
	for _, line := range strings.Split(code, "\n") {
		m := topLevelDeclaration.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, name := range strings.Split(m[1]+m[2], ",") {
			if name = strings.TrimSpace(name); name != "_" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names
}

// TestDeclaredNames pins the line scan on the forms the README uses.
func TestDeclaredNames(t *testing.T) {
	t.Parallel()
	code := "client, err := kryptogo.NewClient(key)\n" +
		"var verr *kryptogo.ValidationError\n" +
		"_, err = client.Tasks.Accept(ctx, id, \"ok\")\n" +
		"summary, err := client.Tasks.Wait(ctx, id, nil)\n" +
		"for task, err := range client.Tasks.All(ctx, nil) {\n" +
		"\tinner := task\n" +
		"}\n" +
		"if v, ok := m[k]; ok {\n}\n"
	assert.Equal(t, []string{"client", "err", "verr", "summary"}, declaredNames(code))
}

func TestREADMEGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the README's blocks with the go command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("..") // the module root: tests run in examples/
	require.NoError(t, err)
	blocks := readmeBlocks(t, filepath.Join(root, "README.md"))
	require.NotEmpty(t, blocks)

	overlay := map[string]string{}
	var packages []string
	for _, b := range blocks {
		if b.kind == "in" {
			assert.NoError(t, linesIn(root, b))
			continue
		}
		pkg := fmt.Sprintf("readme%d", b.line)
		src, err := b.source(pkg)
		if !assert.NoError(t, err, "README.md:%d", b.line) {
			continue
		}
		file := filepath.Join(t.TempDir(), "block.go")
		require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
		dir := filepath.Join(root, "examples", "internal", "readme", pkg)
		overlay[filepath.Join(dir, "block.go")] = file
		packages = append(packages, "./examples/internal/readme/"+pkg)
	}
	if t.Failed() {
		return
	}
	spec, err := json.Marshal(map[string]any{"Replace": overlay})
	require.NoError(t, err)
	overlayFile := filepath.Join(t.TempDir(), "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, spec, 0o644))

	cmd := exec.CommandContext(t.Context(), goTool, append([]string{"build", "-overlay", overlayFile}, packages...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "go build of the README's ```go blocks (positions are README.md's):\n%s", out)
}

// linesIn checks that a go:in block's lines, indentation aside, appear in
// a row in its file, which its module's tests compile.
func linesIn(root string, b readmeBlock) error {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(b.in)))
	if err != nil {
		return fmt.Errorf("README.md:%d: go:in: %w", b.line, err)
	}
	trim := func(text string) string {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		return "\n" + strings.Join(lines, "\n") + "\n"
	}
	if !strings.Contains(trim(string(src)), trim(b.code)) {
		return fmt.Errorf("README.md:%d: the block's lines are not in a row in %s", b.line, b.in)
	}
	return nil
}

// TestLinesIn pins the go:in check: lines in a row, indentation aside.
func TestLinesIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.go"), []byte("func f() {\n\ta := 1\n\tb := 2\n}\n"), 0o644))
	assert.NoError(t, linesIn(dir, readmeBlock{line: 1, kind: "in", in: "x.go", code: "a := 1\nb := 2\n"}))
	assert.Error(t, linesIn(dir, readmeBlock{line: 1, kind: "in", in: "x.go", code: "b := 2\na := 1\n"}), "out of order")
	assert.Error(t, linesIn(dir, readmeBlock{line: 1, kind: "in", in: "y.go", code: "a := 1\n"}), "no such file")
}
