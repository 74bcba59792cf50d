//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// daemon is one run of miniupnpd in the router namespace, in the foreground
// (-d), its stdout and stderr going to the lab's log.
type daemon struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once the process is reaped and its output read
	err    error         // Wait's result; read only after exited is closed
}

// startDaemon starts miniupnpd with the given config and pid file. It does not
// wait for it to be ready; see Lab.startRouter.
func startDaemon(ns, conf, pidFile string, sink *logSink) (*daemon, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("netlab: pipe: %w", err)
	}
	// Not tied to a context: the daemon lives until Lab.Close or a restart.
	// Pdeathsig still kills it if the test process dies first.
	cmd := command(context.Background(), "ip", "netns", "exec", ns,
		"miniupnpd", "-d", "-f", conf, "-P", pidFile)
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("netlab: start miniupnpd: %w", err)
	}
	w.Close() // the child holds the only write end now, so r sees EOF when it exits
	d := &daemon{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	registerPID(d.pid)
	go d.wait(r, sink)
	return d, nil
}

// wait copies the daemon's output to the log until EOF, then reaps it.
func (d *daemon) wait(r *os.File, sink *logSink) {
	io.Copy(sink, r)
	r.Close()
	d.err = d.cmd.Wait()
	close(d.exited)
}

// signal sends sig to the daemon unless it has exited.
func (d *daemon) signal(sig syscall.Signal) error {
	select {
	case <-d.exited:
		return fmt.Errorf("netlab: miniupnpd (pid %d) has exited: %v", d.pid, d.err)
	default:
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("netlab: signal miniupnpd: %w", err)
	}
	return nil
}

// stop ends the daemon: SIGTERM (it says ssdp:byebye and exits), then SIGKILL
// if it has not exited within grace. The whole thing is bounded by grace plus reapGrace.
//
// SIGTERM is repeated every termRepeat: miniupnpd only sets a flag in its
// handler, and a signal that lands between its loop check and select() waits
// for select's timeout (up to the SSDP notify interval) to be noticed. A later
// signal interrupts the select.
func (d *daemon) stop(grace time.Duration) error {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(termRepeat)
	defer tick.Stop()
	for {
		select {
		case <-d.exited:
			return nil
		default:
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
			return nil
		case <-tick.C:
			continue
		case <-deadline.C:
		}
		break
	}
	d.cmd.Process.Kill()
	deadline.Reset(reapGrace)
	select {
	case <-d.exited:
		return errors.New("netlab: miniupnpd ignored SIGTERM and was killed")
	case <-deadline.C:
		return fmt.Errorf("netlab: miniupnpd (pid %d) did not exit after SIGKILL", d.pid)
	}
}

// kill ends the daemon with SIGKILL at once and waits (bounded by grace)
// until it is reaped.
func (d *daemon) kill(grace time.Duration) error {
	d.cmd.Process.Kill()
	select {
	case <-d.exited:
		return nil
	case <-time.After(max(grace, reapGrace)):
		return fmt.Errorf("netlab: miniupnpd (pid %d) did not exit after SIGKILL", d.pid)
	}
}

// reapGrace bounds the wait for a SIGKILLed miniupnpd to be reaped. A kill
// takes effect only when the process leaves the kernel, and a miniupnpd
// walking thousands of ports for a denied request spends its time in
// netlink calls to nftables: on two loaded cores (two suites at once) that
// took more than 2 s. The wait ends as soon as it is reaped.
const reapGrace = 15 * time.Second

// termRepeat is the interval between SIGTERMs in stop.
const termRepeat = 100 * time.Millisecond
