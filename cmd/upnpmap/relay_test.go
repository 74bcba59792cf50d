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
	"github.com/upnpmap/upnpmap/relay"
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

// TestRelayFlagsEverywhere: `relay`, `add --relay` and `run --relay` take the
// same relay flags, and without them leave the relay package's defaults (no
// idle limit for TCP: an idle SSH session must not die).
func TestRelayFlagsEverywhere(t *testing.T) {
	spec := relaySpec{proto: "tcp", listen: ":0", target: "192.0.2.4:80"}
	for _, tc := range []struct {
		cmd  *command
		args []string
	}{
		{relayCmd, []string{":0", "192.0.2.4:80"}},
		{addCmd, []string{"80", "192.0.2.4:80", "--relay"}},
		{runCmd, []string{"--relay", ":0=192.0.2.4:80"}},
	} {
		o, _, err := tc.cmd.parse(tc.args)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.cmd.name, tc.args, err)
		}
		r := o.newRelay(spec)
		if r.IdleTimeout != 0 || r.MaxConns != 0 || r.MaxSessions != 0 || r.MaxConnsPerSource != 0 ||
			r.MaxSessionsPerSource != 0 || r.ProxyProtocol != 0 || len(r.Allow) != 0 {
			t.Errorf("%s without relay flags: %+v, want the library's defaults (zero fields)", tc.cmd.name, r)
		}
		flags := []string{"--idle-timeout", "30s", "--allow", "10.0.0.0/8", "--max-conns", "5",
			"--max-per-source", "2", "--proxy-protocol", "2"}
		o, _, err = tc.cmd.parse(append(append([]string{}, tc.args...), flags...))
		if err != nil {
			t.Fatalf("%s with relay flags: %v", tc.cmd.name, err)
		}
		r = o.newRelay(spec)
		if r.IdleTimeout != 30*time.Second || r.MaxConns != 5 || r.MaxSessions != 5 || r.MaxConnsPerSource != 2 ||
			r.MaxSessionsPerSource != 2 || r.ProxyProtocol != 2 || len(r.Allow) != 1 || r.Allow[0].String() != "10.0.0.0/8" {
			t.Errorf("%s with relay flags: %+v", tc.cmd.name, r)
		}
	}
}

// TestRelayFlagsNeedRelay: a relay flag where no relay runs is a usage error,
// not silently ignored.
func TestRelayFlagsNeedRelay(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"add", "80", "--idle-timeout", "1m"},
		{"run", "--map", "80", "--allow", "10.0.0.0/8"},
	} {
		r := e.run(args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "applies to relays only") {
			t.Errorf("%v: %s", args, r)
		}
	}
}

// expectRefused dials addr and expects the relay to end the connection
// without relaying anything.
func expectRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // reset before the handshake was reported: refused too
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, "hello")
	if n, err := c.Read(make([]byte, 16)); err == nil {
		t.Errorf("%s answered %d bytes; want the connection ended", addr, n)
	}
}

// TestAddRelayTakesAllow: `add --relay --allow` keeps clients outside the
// prefix out, and the stop summary counts them.
func TestAddRelayTakesAllow(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	target := echoTCP(t)
	e := newEnv(t)
	p := e.start("add", "80", target, "--relay", "--allow", "10.0.0.0/8", "--gateway", gw.Addr().String(), "--json")
	rl := p.waitEvent("relaying", 10*time.Second)
	if rl["open"] != false || fmt.Sprint(rl["allow"]) != "[10.0.0.0/8]" {
		t.Errorf("relaying event %v, want the allow list and open false", rl)
	}
	p.waitEvent("mapped", 10*time.Second)
	_, port, _ := net.SplitHostPort(rl["listen"].(string))
	expectRefused(t, net.JoinHostPort("127.0.0.1", port))
	rest, code := p.stop(syscall.SIGTERM)
	if code != 0 || !strings.Contains(strings.Join(rest, "\n"), `"denied":1`) {
		t.Errorf("after SIGTERM: exit %d, %q; stderr:\n%s", code, rest, p.stderr)
	}
}

// TestRunRelayTakesPerSourceLimit: `run --relay --max-per-source 1` refuses
// a second connection from the same address, and the stop summary counts it.
func TestRunRelayTakesPerSourceLimit(t *testing.T) {
	target := echoTCP(t)
	relayPort := freePort(t)
	e := newEnv(t)
	p := e.start("run", "--relay", "127.0.0.1:"+relayPort+"="+target, "--max-per-source", "1", "--json")
	rl := p.waitEvent("relaying", 10*time.Second)
	if fmt.Sprint(rl["addresses"]) != "[127.0.0.1:"+relayPort+"]" || rl["open"] != false {
		t.Errorf("relaying event %v, want the one loopback address and open false", rl)
	}
	first, err := net.DialTimeout("tcp", "127.0.0.1:"+relayPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(first, "one")
	if got, err := bufio.NewReader(first).ReadString('\n'); got != "one\n" {
		t.Fatalf("first connection: %q, %v", got, err)
	}
	expectRefused(t, "127.0.0.1:"+relayPort)
	first.Close()
	rest, code := p.stop(syscall.SIGTERM)
	if code != 0 || len(rest) != 1 || !strings.Contains(rest[0], `"refused":1`) || !strings.Contains(rest[0], `"conns":1`) {
		t.Errorf("after SIGTERM: exit %d, %q; stderr:\n%s", code, rest, p.stderr)
	}
}

// TestRelayStartNotice: the start lines name every address a wildcard
// listen stands for; the human stop line counts refusals and evictions.
func TestRelayStartNotice(t *testing.T) {
	target := echoTCP(t)
	e := newEnv(t)
	p := e.start("relay", ":0", target)
	first := p.next(10 * time.Second)
	on := p.next(10 * time.Second)
	var port string
	if f := strings.Fields(first); len(f) > 2 {
		_, port, _ = net.SplitHostPort(f[2])
	}
	if !strings.HasPrefix(first, "relaying tcp ") || port == "" || !strings.Contains(on, " 127.0.0.1:"+port) {
		t.Errorf("start lines %q, %q: want the listen address and 127.0.0.1:%s", first, on, port)
	}
	rest, _ := p.stop(syscall.SIGTERM)
	all := strings.Join(rest, "\n")
	if !strings.Contains(all, "0 refused (per-source limit), 0 evicted (at the cap), 0 closed silent") {
		t.Errorf("stop summary %q", all)
	}
}

func TestOpenToAll(t *testing.T) {
	for _, tc := range []struct {
		allow, addrs []string
		want         bool
	}{
		{nil, []string{"127.0.0.1:80", "[::1]:80"}, false},
		{nil, []string{"127.0.0.1:80", "192.168.1.4:80"}, true},
		{nil, []string{"[fe80::1%eth0]:80"}, true},
		{[]string{"192.168.1.0/24"}, []string{"192.168.1.4:80"}, false},
	} {
		if got := openToAll(tc.allow, tc.addrs); got != tc.want {
			t.Errorf("openToAll(%v, %v) = %v, want %v", tc.allow, tc.addrs, got, tc.want)
		}
	}
}

func TestReachableAt(t *testing.T) {
	got := reachableAt([]net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 8080},
		&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9090},
	})
	want := map[string]bool{"127.0.0.1:8080": false, "127.0.0.1:9090": false}
	for _, a := range got {
		if _, ok := want[a]; ok {
			want[a] = true
		}
		if strings.HasPrefix(a, "[") && strings.HasSuffix(a, ":8080") {
			t.Errorf("IPv6 address %s listed for an IPv4 wildcard", a)
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("reachableAt: %v lacks %s", got, a)
		}
	}
}

// TestStatsLineCountsDefences: the stop summary, human and JSON, counts each
// defence's work apart — refusals at the per-source limit, evictions at the
// cap, silent connections closed, UDP datagrams dropped (issue 21 item 7:
// the drops were not counted).
func TestStatsLineCountsDefences(t *testing.T) {
	st := relay.Stats{Conns: 70, Sessions: 65, Refused: 192, Evicted: 7, SilentClosed: 3, Dropped: 11}
	if l := statsLine("tcp", st); !strings.Contains(l, "192 refused (per-source limit), 7 evicted (at the cap), 3 closed silent") {
		t.Errorf("tcp summary %q", l)
	}
	if l := statsLine("udp", st); !strings.Contains(l, "192 refused (per-source limit), 7 evicted (at the cap), 11 dropped") {
		t.Errorf("udp summary %q", l)
	}
	j := relayStatsJSON(&liveRelay{spec: relaySpec{proto: "udp"}}, st)
	if j.Refused != 192 || j.Evicted != 7 || j.Silent != 3 || j.Dropped != 11 {
		t.Errorf("JSON summary %+v", j)
	}
}
