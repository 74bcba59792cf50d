//go:build linux

package labtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// sshLabPort is the LAN service's port, asked for on the SSH server.
const sshLabPort = 21022

// sshRestoreWithin bounds the time from an sshd restart to the tunnel's
// restored event ("within seconds"): the first reconnection is tried
// sshfwd.DefaultBackoffMin (plus jitter) after the loss, and the next ones
// after two and four times that if sshd is not back yet; it took 1.1-1.5 s
// here.
const sshRestoreWithin = 15 * time.Second

// refuseAll is a miniupnpd permission rule, read before the lab's allow
// rule, that refuses every mapping: the router that leaves SSH as the only
// way in. The lab's router gets it with NAT-PMP and PCP off: with a rule
// that denies every port, miniupnpd 2.3.1 answers a NAT-PMP or PCP request
// by trying port after port (some 14,000 "permission rule matched" log
// lines for one client), during which it answers nothing and ignores
// SIGTERM. UPnP's AddPortMapping is refused at once.
const refuseAll = "deny 0-65535 0.0.0.0/0 0-65535"

// TestSSHFallback: the LAN host sits behind a router that refuses every
// mapping; `upnpmap add PORT --via ssh://upnpmap-lab@WANHOST` forwards the
// port through OpenSSH's sshd on the WAN host (GatewayPorts
// clientspecified, an unprivileged test user, netlab.SSHUser),
// so that another host on the WAN side (the router's own WAN address)
// reaches the LAN server at WANHOST:PORT. A restart of sshd is reported
// lost, then restored on the same port; delete closes the port on the
// server. With GatewayPorts off, add fails with the sshd_config line to add.
func TestSSHFallback(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	lab := newLab(t, ctx, netlab.Options{DisableNATPMP: true, ExtraConfig: []string{refuseAll}}, "sshd", "ssh-keygen", "ss", "unshare", "mount")
	sshd, err := lab.StartSSHD(ctx, t, netlab.WAN, netlab.SSHDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lan1 := netlab.LAN1
	startEcho(t, lab, lan1, "tcp", lanAddr(lab, lan1, sshLabPort))
	state := t.TempDir()
	tunnel := netip.AddrPortFrom(lab.Addr(netlab.WAN), sshLabPort)

	t.Run("add --via", func(t *testing.T) {
		cmd := lab.Cmd(ctx, lan1, buildCLI(t), "add", fmt.Sprint(sshLabPort), "--via", sshd.URL(),
			"--ssh-key", sshd.KeyFile(), "--known-hosts", sshd.KnownHostsFile(), "--json", "-v")
		cmd.Env = cliEnv(state)
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 64)
		go readLines(stdout, lines)
		exited := false
		defer func() {
			if !exited {
				cmd.Process.Kill()
				for range lines {
				}
				cmd.Wait()
			}
			if t.Failed() {
				t.Logf("add --via stderr:\n%s", indent(stderr.String()))
			}
		}()

		m := nextEvent(t, lines, "mapped", 60*time.Second)
		if m.Method != "ssh" || m.External != tunnel.String() {
			t.Fatalf("mapped %s via %s; want %v via ssh", m.External, m.Method, tunnel)
		}
		wantTunnel(t, ctx, lab, tunnel, lan1)
		if want := "Accepted publickey for " + netlab.SSHUser + " "; !strings.Contains(sshd.Log(), want) {
			t.Errorf("sshd did not log %q: the tunnel was not made as the test user", want)
		}

		// An sshd restart drops the connection: lost, then restored on
		// the same port, within seconds.
		restartAt := time.Now()
		if err := sshd.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, lines, "lost", sshRestoreWithin)
		r := nextEvent(t, lines, "restored", sshRestoreWithin-time.Since(restartAt))
		t.Logf("restored %v after the sshd restart", time.Since(restartAt).Round(time.Millisecond))
		if r.External != tunnel.String() {
			t.Errorf("restored at %s, want the same %v", r.External, tunnel)
		}
		wantTunnel(t, ctx, lab, tunnel, lan1)

		// delete: the add process ends, and with its connection the
		// server's listener.
		mustCLI(t, ctx, lab, lan1, state, "delete", fmt.Sprint(sshLabPort), "--via", sshd.URL())
		for range lines {
		}
		err = cmd.Wait()
		exited = true
		if err != nil {
			t.Errorf("add --via after delete: %v", err)
		}
		if addrs, err := sshd.ForwardListening(ctx, sshLabPort); err != nil || len(addrs) != 0 {
			t.Errorf("after delete sshd still listens on %v (err %v)", addrs, err)
		}
		if _, err := probeFrom(ctx, lab, netlab.Router, tunnel); err == nil {
			t.Errorf("%v still reachable after delete", tunnel)
		}
	})

	if !strings.Contains(lab.Log(), "permission rule 0 matched") {
		t.Error("the router never refused a mapping: the fallback was not tested")
	}
	t.Run("GatewayPorts no", func(t *testing.T) {
		off, err := lab.StartSSHD(ctx, t, netlab.WAN, netlab.SSHDOptions{Port: 2223, GatewayPorts: "no"})
		if err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, ctx, lab, lan1, state, "add", fmt.Sprint(sshLabPort+1), "--method", "ssh", "--via", off.URL(),
			"--ssh-key", off.KeyFile(), "--known-hosts", off.KnownHostsFile())
		if r.code == 0 {
			t.Fatal("add succeeded through a server that binds forwards to loopback")
		}
		if !strings.Contains(r.stderr, "GatewayPorts clientspecified") {
			t.Errorf("the error does not name the sshd_config line:\n%s", r.stderr)
		}
		if addrs, err := off.ForwardListening(ctx, sshLabPort+1); err != nil || len(addrs) != 0 {
			t.Errorf("the refused forward was left listening on %v (err %v)", addrs, err)
		}
	})
}

// cliEvent is the part of a `--json` line the SSH test reads.
type cliEvent struct {
	Event    string `json:"event"`
	Method   string `json:"method"`
	External string `json:"external"`
	Error    string `json:"error"`
}

// nextEvent reads lines until one is the event kind, failing the test when
// the process ends or wait passes first.
func nextEvent(t *testing.T, lines <-chan string, kind string, wait time.Duration) cliEvent {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the CLI ended before %q", kind)
			}
			t.Logf("cli: %s", line)
			var ev cliEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			if ev.Event == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within %v", kind, wait)
		}
	}
}

// wantTunnel fails the test unless addr, probed from the router's WAN side
// (a host on the WAN link other than the SSH server), reaches the echo
// server on node within a few seconds.
func wantTunnel(t *testing.T, ctx context.Context, lab *netlab.Lab, addr netip.AddrPort, node netlab.Node) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		server, err := probeFrom(ctx, lab, netlab.Router, addr)
		if err == nil {
			if server != string(node) {
				t.Fatalf("%v answered by %q, want %s", addr, server, node)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not reachable through the tunnel: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeFrom sends one line to addr from node and returns the name of the
// echo server that answered.
func probeFrom(ctx context.Context, lab *netlab.Lab, node netlab.Node, addr netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := lab.Dial(ctx, node, "tcp4", addr.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	payload := fmt.Sprintf("probe-%d\n", probeSeq.Add(1))
	if _, err := io.WriteString(c, payload); err != nil {
		return "", err
	}
	answer, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the echo: %w", err)
	}
	f := strings.Fields(answer)
	if len(f) != 3 || f[2] != strings.TrimSpace(payload) {
		return "", fmt.Errorf("unexpected echo %q", answer)
	}
	return f[0], nil
}
