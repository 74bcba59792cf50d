//go:build linux

package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long Wait waits for a killed command's output pipes.
const waitDelay = 2 * time.Second

// command builds an exec.Cmd that dies with the test process (Pdeathsig) and
// whose pipes cannot keep Wait blocked for long.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	return cmd
}

// run runs a command to completion in the caller's namespace and returns its
// combined output; the error carries the command line and the output.
func run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := command(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("netlab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// runJSON runs a command and decodes its standard output as JSON into v.
// Standard error is kept apart: iproute2 prints warnings there (for example
// "Peer netns reference is invalid" while another lab's namespace is being
// deleted) that would otherwise corrupt the document.
func runJSON(ctx context.Context, v any, name string, args ...string) error {
	cmd := command(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netlab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	if bytes.TrimSpace(out.Bytes()) == nil {
		return nil
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("netlab: parse %s %s output: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// ipBatch runs iproute2 commands, one per line, in namespace ns ("" = the
// caller's), with a single ip process; -force goes on after an error so the
// output lists every failing line.
func ipBatch(ctx context.Context, ns string, lines ...string) error {
	args := []string{"-force", "-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	_, err := run(ctx, strings.Join(lines, "\n")+"\n", "ip", args...)
	return err
}

// Cmd returns a command that runs name inside node's namespace (through
// `ip netns exec`, which execs name in place, so cmd.Process.Pid is name's own
// PID). The process is killed when ctx ends or when the test process dies.
// A process still running at Close is killed there.
func (l *Lab) Cmd(ctx context.Context, node Node, name string, args ...string) *exec.Cmd {
	ns, err := l.netns(node)
	cmd := command(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if err != nil {
		cmd.Err = err
	}
	return cmd
}

// Exec runs argv inside node's namespace and returns its combined output. The
// error includes the output.
func (l *Lab) Exec(ctx context.Context, node Node, argv ...string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("netlab: Exec: empty argv")
	}
	ns, err := l.netns(node)
	if err != nil {
		return "", err
	}
	return run(ctx, "", "ip", append([]string{"netns", "exec", ns}, argv...)...)
}
