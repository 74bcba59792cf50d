package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The tests drive the built binary, as a user or a script would: exit codes,
// stdout, stderr and the state file are what they check. The binary is built
// once, by the first test that needs it (so that unit tests and fuzzing do
// not pay for the build), into a directory TestMain removes.
var (
	buildDir   string
	buildOnce  sync.Once
	cliBinary  string
	buildError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "upnpmap-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	buildDir = dir
	noRaceExitSleep()
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// The in-process fake gateways and helpers must be gone too.
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// raceExitSleep is what the children this package starts (the CLI, and the
// test binary as a helper) get for GORACE's atexit_sleep_ms. A -race binary
// otherwise sleeps a second before it exits, to catch a goroutine racing with
// the exit; every CLI run then took over a second however quick the command,
// and this package ran for three minutes, mostly asleep. The sleep only
// gives goroutines still running after main returns a chance to race; the
// race detector stays on for everything the CLI does before that.
const raceExitSleep = "atexit_sleep_ms=0"

// noRaceExitSleep sets raceExitSleep in GORACE for the processes the tests
// start (this process read GORACE at its own start, so it is unaffected),
// keeping any other GORACE option the caller set.
func noRaceExitSleep() {
	g := os.Getenv("GORACE")
	if strings.Contains(g, "atexit_sleep_ms=") {
		return // the caller chose
	}
	os.Setenv("GORACE", strings.TrimSpace(g+" "+raceExitSleep))
}

// binary builds the CLI on first use (with -race when the tests run with
// it, so the binary is checked like the tests) and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(buildDir, "upnpmap")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("building the CLI: %v\n%s", err, out)
			return
		}
		cliBinary = path
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return cliBinary
}

// cliEnv is one user's environment: a private HOME and cache directory, so
// that state files never leak between tests or into the real user's.
type cliEnv struct {
	t     *testing.T
	home  string
	cache string
}

func newEnv(t *testing.T) *cliEnv {
	t.Helper()
	binary(t)
	home := memTempDir(t)
	return &cliEnv{t: t, home: home, cache: filepath.Join(home, "cache")}
}

// memDir is where memTempDir makes its directories when it exists: a
// memory file system on Linux.
const memDir = "/dev/shm"

// memTempDir is t.TempDir on a memory file system when the machine has one.
// The CLI fsyncs the state file (and its directory when it creates the file)
// on every update, under the state lock. On a disk shared with busy processes, one such fsync (an ext4
// journal commit that waits for everyone's pending writes) has been seen to
// keep the lock holder in the kernel for over stateLockTimeout, so the tests
// that run twenty processes at once failed on the disk's latency, which is
// not what they check. Off Linux, or without /dev/shm, it is t.TempDir.
func memTempDir(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return t.TempDir()
	}
	if fi, err := os.Stat(memDir); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp(memDir, "upnpmap-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (e *cliEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CACHE_HOME", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+e.home, "XDG_CACHE_HOME="+e.cache)
}

// statePath is where the CLI keeps its state file in this environment.
func (e *cliEnv) statePath() string {
	return filepath.Join(e.cache, "upnpmap", stateFileName)
}

func (e *cliEnv) readState() *state {
	e.t.Helper()
	s, err := loadState(e.statePath())
	if err != nil {
		e.t.Fatalf("state file: %v", err)
	}
	return s
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs the CLI to completion (bounded at 60s: a hang is a failure, not
// a stuck test run).
func (e *cliEnv) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("upnpmap %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		e.t.Fatalf("upnpmap %s: still running after 60s\n%s", strings.Join(args, " "), r)
	}
	return r
}

// mustRun runs the CLI and fails the test unless it exits 0.
func (e *cliEnv) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("upnpmap %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// jsonLines decodes each line of out into a map, failing on anything that is
// not one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("not one JSON object per line: %q: %v", line, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// proc is a long-running CLI process (run, relay, gateway, add --relay) whose
// stdout is read line by line.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start starts the CLI in the background. The test's cleanup kills it if
// the test did not stop it.
func (e *cliEnv) start(args ...string) *proc {
	e.t.Helper()
	cmd := exec.Command(cliBinary, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.home
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	p := &proc{t: e.t, cmd: cmd, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go p.readLines(stdout)
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// readLines feeds stdout to p.lines, then reaps the process.
func (p *proc) readLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.lines <- sc.Text()
	}
	close(p.lines)
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		p.code = ee.ExitCode()
	} else if err != nil {
		p.code = -1
	}
	close(p.done)
}

// next returns the next stdout line, failing the test after timeout.
func (p *proc) next(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			p.t.Fatalf("process ended (exit %d) while a line was expected; stderr:\n%s", p.code, p.stderr)
		}
		return l
	case <-time.After(timeout):
		p.t.Fatalf("no output for %v; stderr:\n%s", timeout, p.stderr)
	}
	return ""
}

// nextJSON returns the next stdout line decoded as a JSON object.
func (p *proc) nextJSON(timeout time.Duration) map[string]any {
	p.t.Helper()
	l := p.next(timeout)
	var o map[string]any
	if err := json.Unmarshal([]byte(l), &o); err != nil {
		p.t.Fatalf("not a JSON object: %q", l)
	}
	return o
}

// waitEvent reads JSON lines until one has event == kind.
func (p *proc) waitEvent(kind string, timeout time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("no %q event within %v; stderr:\n%s", kind, timeout, p.stderr)
		}
		o := p.nextJSON(left)
		if o["event"] == kind {
			return o
		}
	}
}

// stop sends sig and waits for the process to exit, returning the rest of
// its stdout and its exit code.
func (p *proc) stop(sig syscall.Signal) (rest []string, code int) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return rest, p.code
			}
			rest = append(rest, l)
		case <-timeout:
			p.t.Fatalf("still running 20s after %v; stderr:\n%s", sig, p.stderr)
		}
	}
}
