//go:build linux

package labtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// proc is a client-mode process (client_test.go) running in a lab
// namespace: the test sends it commands and reads its JSON lines.
type proc struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   lockedBuffer // its stderr: the front door's debug log

	mu      sync.Mutex
	msgs    []msg         // every line so far
	changed chan struct{} // signalled (non-blocking) on each new line and at EOF
	eof     bool
	done    chan struct{} // closed when stdout ended
	cursor  int           // next unread index for next (test goroutine only)
}

// startClient starts the test binary in client mode inside node: args are a
// client command and its flags. The process is stopped at the end of the
// test (stdin closed, so a mapping is closed; killed if it does not exit);
// when the test failed, its messages and log are printed.
func startClient(t testing.TB, ctx context.Context, lab *netlab.Lab, node netlab.Node, name string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, changed: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = lab.Cmd(ctx, node, exe, args...)
	p.cmd.Env = append(childEnv(), clientEnv+"=1")
	p.cmd.Stderr = &p.log
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(p.stop)
	return p
}

// read collects the process's output lines until it ends.
func (p *proc) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			m = msg{Type: "garbage", Err: sc.Text()}
		}
		p.mu.Lock()
		p.msgs = append(p.msgs, m)
		p.mu.Unlock()
		p.signal()
	}
	p.mu.Lock()
	p.eof = true
	p.mu.Unlock()
	p.signal()
}

func (p *proc) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// send writes one command line to the process.
func (p *proc) send(command string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, command+"\n"); err != nil {
		p.t.Fatalf("%s: send %q: %v", p.name, command, err)
	}
}

// next returns the first unread message that satisfies match, waiting at
// most wait. Messages before it are skipped (still in all()). It fails the
// test when the process ends or the time is up first.
func (p *proc) next(wait time.Duration, what string, match func(msg) bool) msg {
	p.t.Helper()
	m, err := p.await(wait, match)
	if err != nil {
		p.t.Fatalf("%s: waiting for %s: %v", p.name, what, err)
	}
	return m
}

// await is next without failing the test.
func (p *proc) await(wait time.Duration, match func(msg) bool) (msg, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for ; p.cursor < len(p.msgs); p.cursor++ {
			if m := p.msgs[p.cursor]; match(m) {
				p.cursor++
				p.mu.Unlock()
				return m, nil
			}
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			return msg{}, fmt.Errorf("the process ended (messages: %s)", p.dump())
		}
		select {
		case <-p.changed:
		case <-deadline.C:
			return msg{}, fmt.Errorf("nothing within %v (messages: %s)", wait, p.dump())
		}
	}
}

// mapped waits for the result of a map command and fails the test if it
// is an error.
func (p *proc) mapped(wait time.Duration) msg {
	p.t.Helper()
	m := p.next(wait, "the mapping", isType("mapped", "error"))
	if m.Type == "error" {
		p.t.Fatalf("%s: Map failed: %s (matches %v)", p.name, m.Err, m.Is)
	}
	return m
}

// close tells the process to close its mapping and checks that the delete
// succeeded.
func (p *proc) close(wait time.Duration) {
	p.t.Helper()
	p.send("close")
	m := p.next(wait, "Close", isType("closed"))
	if m.Err != "" {
		p.t.Fatalf("%s: Close: %s", p.name, m.Err)
	}
}

// all returns a copy of every message so far.
func (p *proc) all() []msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]msg(nil), p.msgs...)
}

// events counts the events of kind so far.
func (p *proc) events(kind string) int {
	n := 0
	for _, m := range p.all() {
		if m.Type == "event" && m.Kind == kind {
			n++
		}
	}
	return n
}

func (p *proc) dump() string {
	var b strings.Builder
	for i, m := range p.all() {
		line, _ := json.Marshal(m)
		if i > 0 {
			b.WriteString(", ")
		}
		b.Write(line)
	}
	return b.String()
}

// stop ends the process: end of stdin makes it close its mapping and exit;
// one that does not within a few seconds is killed.
func (p *proc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second): // Wait's WaitDelay closes the pipe
		}
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == raceExit {
		p.t.Errorf("%s: data race (exit status %d)", p.name, raceExit)
	}
	if p.t.Failed() {
		p.t.Logf("%s: exit: %v\n  messages: %s\n  log:\n%s", p.name, err, p.dump(), indent(p.log.String()))
	}
}

func isType(types ...string) func(msg) bool {
	return func(m msg) bool {
		for _, t := range types {
			if m.Type == t {
				return true
			}
		}
		return false
	}
}

func isEvent(kind string) func(msg) bool {
	return func(m msg) bool { return m.Type == "event" && m.Kind == kind }
}

// lockedBuffer is a bytes.Buffer safe for a process's writer and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// ask sends one command to a session client (client_session_test.go) and
// returns its answer.
func (p *proc) ask(command string) msg {
	p.t.Helper()
	p.send(command)
	return p.next(sessionOpTimeout+5*time.Second, "the answer to "+command, isType("discover", "mapped", "error", "list", "closed", "deleted"))
}
