package scaleproof

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one worker process: a re-execution of this test binary whose
// environment names the scenario (TestMain runs the worker instead of the
// tests).
type proc struct {
	index int
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	lines  []string     // every report line, in order
	stderr bytes.Buffer // shown when the test fails
	notify chan struct{}
	exited chan struct{}
}

// startProc starts worker index of a scenario with env added, and calls
// onLine for each line it reports (from the goroutine reading them).
func startProc(t *testing.T, index int, env map[string]string, onLine func(p *proc, line string)) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envIndex, index))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// The worker dies with the test process, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{index: index, cmd: cmd, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if onLine != nil {
				onLine(p, line)
			}
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			p.mu.Lock()
			t.Logf("worker %d (pid %d) stderr:\n%s", index, cmd.Process.Pid, p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

// waitLine waits until the worker reported a line starting with prefix,
// and returns it.
func (p *proc) waitLine(t *testing.T, prefix string, patience time.Duration) string {
	t.Helper()
	deadline := time.After(patience)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if strings.HasPrefix(l, prefix) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-p.exited:
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, l := range p.lines {
				if strings.HasPrefix(l, prefix) {
					return l
				}
			}
			t.Fatalf("worker %d exited without %q: %s", p.index, prefix, p.stderr.String())
		case <-deadline:
			t.Fatalf("worker %d: no %q within %v", p.index, prefix, patience)
		}
	}
}

// linesWith returns the worker's lines starting with prefix.
func (p *proc) linesWith(prefix string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// kill ends the worker with SIGKILL and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// wait waits for the worker to end on its own, and reports its success.
func (p *proc) wait(t *testing.T, patience time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(patience):
		t.Fatalf("worker %d still running after %v", p.index, patience)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Fatalf("worker %d exited with %d: %s", p.index, code, p.stderr.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}
