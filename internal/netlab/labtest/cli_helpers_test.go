//go:build linux

package labtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// The CLI is built once per test binary (with -race when the tests are),
// into a directory TestMain removes.
var cli struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildCLI returns the path of the upnpmap binary, building it on first use.
func buildCLI(t testing.TB) string {
	t.Helper()
	cli.once.Do(func() {
		start := time.Now()
		gobin, err := exec.LookPath("go")
		if err != nil {
			cli.err = err
			return
		}
		if cli.dir, cli.err = os.MkdirTemp("", "labtest-cli-"); cli.err != nil {
			return
		}
		cli.path = filepath.Join(cli.dir, "upnpmap")
		args := []string{"build", "-o", cli.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/upnpmap/upnpmap/cmd/upnpmap")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, gobin, args...).CombinedOutput()
		if err != nil {
			cli.err = errors.New("go build ./cmd/upnpmap: " + err.Error() + "\n" + string(out))
		}
		t.Logf("CLI built in %v (once per run)", time.Since(start).Round(time.Millisecond))
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

// removeCLI removes the built CLI; TestMain calls it.
func removeCLI() {
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
}

// cliResult is how a CLI run ended.
type cliResult struct {
	stdout, stderr string
	code           int // exit status; -1 if killed
}

// cliEnv is the environment of the CLI in a test: the state file goes to
// a directory of the test's own.
func cliEnv(stateDir string) []string {
	return append(childEnv(), "XDG_CACHE_HOME="+stateDir, "HOME="+stateDir)
}

// childEnv is the environment of the processes the tests start. A binary
// built with -race sleeps a second before exiting (the race runtime's
// atexit_sleep_ms), which would add a second to every CLI run; a data race
// still makes it exit with status 66, which the tests check.
func childEnv() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// raceExit is the exit status of a -race binary that found a data race.
const raceExit = 66

// runCLI runs the CLI in node to completion (bounded by 20 s) and returns
// its output and exit status.
func runCLI(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node, stateDir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := lab.Cmd(ctx, node, buildCLI(t), args...)
	cmd.Env = cliEnv(stateDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if r.code == raceExit {
			t.Errorf("upnpmap %v: data race:\n%s", args, r.stderr)
		}
	default:
		t.Fatalf("upnpmap %v: %v", args, err)
	}
	t.Logf("upnpmap %v: exit %d after %v\n  stdout:\n%s\n  stderr:\n%s", args, r.code, elapsed.Round(time.Millisecond), indent(r.stdout), indent(r.stderr))
	return r
}

// mustCLI is runCLI that requires exit status 0.
func mustCLI(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node, stateDir string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, ctx, lab, node, stateDir, args...)
	if r.code != 0 {
		t.Fatalf("upnpmap %v: exit %d; want 0", args, r.code)
	}
	return r
}
