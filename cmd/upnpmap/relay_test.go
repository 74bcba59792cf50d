package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// echoTCP starts a TCP echo server on loopback for the test's lifetime.
func echoTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// echoUDP starts a UDP echo server on loopback for the test's lifetime.
func echoUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// checkEcho sends a line through addr and expects it back.
func checkEcho(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, "hello through the relay")
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "hello through the relay\n" {
		t.Errorf("echo through %s: %q, %v", addr, got, err)
	}
}

func TestRelayTCPAndUDP(t *testing.T) {
	tcpTarget, udpTarget := echoTCP(t), echoUDP(t)
	e := newEnv(t)

	p := e.start("relay", "127.0.0.1:0", tcpTarget, "--json")
	r := p.waitEvent("relaying", 10*time.Second)
	checkEcho(t, r["listen"].(string))
	checkEcho(t, r["listen"].(string))
	rest, code := p.stop(syscall.SIGTERM)
	if code != 0 || len(rest) != 1 || !strings.Contains(rest[0], `"event":"relay-stopped"`) || !strings.Contains(rest[0], `"conns":2`) {
		t.Errorf("after SIGTERM: exit %d, %q; stderr:\n%s", code, rest, p.stderr)
	}

	p = e.start("relay", "127.0.0.1:0", udpTarget, "--udp", "--json")
	r = p.waitEvent("relaying", 10*time.Second)
	c, err := net.Dial("udp", r["listen"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping"))
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("UDP echo through the relay: %q, %v", buf[:n], err)
	}
	rest, code = p.stop(syscall.SIGINT)
	if code != 0 || len(rest) != 1 || !strings.Contains(rest[0], `"sessions":1`) {
		t.Errorf("after SIGINT: exit %d, %q", code, rest)
	}
}

// TestRelayPortInUse: a LISTEN address another program holds fails with a
// message that says so.
func TestRelayPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := newEnv(t).run("relay", l.Addr().String(), "127.0.0.1:9")
	if r.code != exitUsage || !strings.Contains(r.stderr, "already in use by another program") {
		t.Errorf("%s", r)
	}
}

// TestAddRelay: `add EXTPORT HOST:PORT --relay` maps EXTPORT to a relay on
// this machine that forwards to HOST:PORT, until interrupted.
func TestAddRelay(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	target := echoTCP(t)
	e := newEnv(t)
	p := e.start("add", "80", target, "--relay", "--gateway", gw.Addr().String(), "--json")
	rl := p.waitEvent("relaying", 10*time.Second)
	m := p.waitEvent("mapped", 10*time.Second)
	if m["external"] != "203.0.113.7:80" || m["relay"] != target {
		t.Errorf("mapped event %v", m)
	}
	_, relayPort, _ := net.SplitHostPort(rl["listen"].(string))
	entry, ok := fakeEntry(gw, "tcp", 80)
	if !ok || fmt.Sprint(entry.InternalPort) != relayPort {
		t.Errorf("router maps 80 to %+v; the relay listens on port %s", gw.Mappings(), relayPort)
	}
	checkEcho(t, net.JoinHostPort("127.0.0.1", relayPort))
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("router table after SIGTERM: %+v", gw.Mappings())
	}
}

// TestRelaySocketActivation: `relay systemd TARGET` relays the sockets
// systemd passes (LISTEN_FDS), as examples/systemd/upnpmap-relay.* use it.
// The shell sets LISTEN_PID to its own pid and execs the CLI, which keeps
// that pid, as systemd-socket-activate does.
func TestRelaySocketActivation(t *testing.T) {
	target := echoTCP(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	e := newEnv(t)
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" relay systemd "$1" --json`, cliBinary, target)
	cmd.Env = e.environ()
	cmd.ExtraFiles = []*os.File{f} // descriptor 3
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readLines(stdout)
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })

	r := p.waitEvent("relaying", 10*time.Second)
	if r["listen"] != ln.Addr().String() || r["target"] != target {
		t.Errorf("relaying event %v, want the inherited %v", r, ln.Addr())
	}
	checkEcho(t, ln.Addr().String())
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}

	// Without sockets from systemd, LISTEN "systemd" is a usage error that
	// says what to do.
	if r := e.run("relay", "systemd", target); r.code != exitUsage || !strings.Contains(r.stderr, ".socket unit") {
		t.Errorf("relay systemd without LISTEN_FDS: %s", r)
	}
}
