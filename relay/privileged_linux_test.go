package relay

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the test binary as a helper program (see TestMain) under
// systemd-socket-activate, setpriv and strace, as root in the test's own
// network namespace. Without root or without those tools they skip with the
// reason.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (run inside the test namespace as root)")
	}
	if nominalRoot() {
		// ./test.sh as a normal user runs the tests as root of a user
		// namespace (unshare -r), where only uid 0 exists: setpriv cannot
		// become nobody there. test.sh as root runs these.
		t.Skip("needs real root: this is root of a user namespace, where user nobody does not exist")
	}
}

// nominalRoot reports whether this process runs in a user namespace other
// than the initial one, whose uid_map maps the whole range onto itself.
func nominalRoot() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) < 3 || f[0] != "0" || f[1] != "0" || f[2] != "4294967295"
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// helperCopy copies the test binary somewhere user nobody can run it.
func helperCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	dst := filepath.Join(dir, "relayhelper")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// helperProc is a running helper; its stdout lines arrive on lines.
type helperProc struct {
	cmd   *exec.Cmd
	pid   int // the helper's own pid, from its ready line (it may run under strace or setpriv)
	lines chan string
	done  chan error
}

func startHelper(t *testing.T, env []string, argv ...string) *helperProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if h.pid > 0 {
			syscall.Kill(h.pid, syscall.SIGKILL)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for range h.lines {
		}
	})
	return h
}

// line waits for the helper's next stdout line.
func (h *helperProc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatal("helper exited without a line")
		}
		if i := strings.Index(l, " pid="); i >= 0 {
			fmt.Sscan(l[i+5:], &h.pid)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line from the helper")
	}
	return ""
}

// stop sends SIGTERM and returns the exit code.
func (h *helperProc) stop(t *testing.T) int {
	t.Helper()
	if h.pid > 0 {
		syscall.Kill(h.pid, syscall.SIGTERM)
	} else {
		h.cmd.Process.Signal(syscall.SIGTERM)
	}
	return h.exitCode(t)
}

func (h *helperProc) exitCode(t *testing.T) int {
	t.Helper()
	for range h.lines {
	}
	select {
	case err := <-h.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not exit")
	}
	return -1
}

// freePort finds a loopback port that is free now (in the test's own
// namespace nothing else takes it in between).
func freePort(t *testing.T, network string) string {
	t.Helper()
	if strings.HasPrefix(network, "udp") {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return itoa(l.Addr().(*net.TCPAddr).Port)
}

var asNobody = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}

// Socket activation: systemd-socket-activate binds the port and execs the
// helper with the socket; SystemdListeners takes it and the relay serves it.
// On port 80 the helper runs as nobody: the socket is the only privilege.
func TestSocketActivation(t *testing.T) {
	needRoot(t)
	activate := needTool(t, "systemd-socket-activate")
	tcpTarget := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	udpTarget := udpEcho(t, "127.0.0.1:0")

	for _, tc := range []struct {
		name   string
		udp    bool
		port   string
		nobody bool
	}{
		{"tcp", false, "", false},
		{"udp", true, "", false},
		{"tcp port 80 as nobody", false, "80", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := tc.port
			if port == "" {
				port = freePort(t, map[bool]string{true: "udp", false: "tcp"}[tc.udp])
			}
			target := tcpTarget.addr()
			argv := []string{activate, "-l", "127.0.0.1:" + port}
			if tc.udp {
				target = udpTarget
				argv = append(argv, "--datagram")
			}
			argv = append(argv, "-E", "RELAY_TEST_HELPER=activated", "-E", "RELAY_TEST_TARGET="+target)
			if g := os.Getenv("GORACE"); g != "" {
				// systemd-socket-activate passes on only what -E names:
				// without it the helper keeps the exit sleep raceExitSleep removes.
				argv = append(argv, "-E", "GORACE="+g)
			}
			bin, _ := os.Executable()
			if tc.nobody {
				needTool(t, "setpriv")
				argv = append(argv, asNobody...)
				bin = helperCopy(t)
			}
			h := startHelper(t, nil, append(argv, bin)...)
			addr := "127.0.0.1:" + port
			// The first connection or datagram makes systemd-socket-activate
			// start the helper; the relay picks it up from the backlog.
			// Until systemd-socket-activate has bound the port, a
			// connection is refused and a datagram lost: retry.
			if tc.udp {
				c := udpClient(t, "udp", addr)
				var got string
				var err error
				for i := 0; i < 40 && got != "hello"; i++ {
					if _, got, err = exchange(c, "hello", 250*time.Millisecond); err != nil && !isTimeout(err) {
						time.Sleep(50 * time.Millisecond)
					}
				}
				if got != "hello" {
					t.Fatalf("through the activated relay: %q, %v", got, err)
				}
			} else {
				var c net.Conn
				var err error
				for i := 0; i < 100; i++ {
					if c, err = net.Dial("tcp", addr); err == nil {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got, err := roundTrip(c, "hello", 10*time.Second); got != "hello" {
					t.Fatalf("through the activated relay: %q, %v", got, err)
				}
			}
			ready := h.line(t)
			if !strings.HasPrefix(ready, "ready ") || !strings.Contains(ready, addr) {
				t.Fatalf("helper said %q", ready)
			}
			if tc.nobody && !strings.HasSuffix(ready, " uid=65534") {
				t.Fatalf("helper said %q, want it running as nobody", ready)
			}
			if code := h.stop(t); code != helperOK {
				t.Fatalf("helper exited with %d", code)
			}
		})
	}
}

// setcap cap_net_bind_service=+ep lets an unprivileged user's process of the
// binary bind port 80; without it the same user gets EACCES.
func TestSetcapBindsLowPort(t *testing.T) {
	needRoot(t)
	setcap := needTool(t, "setcap")
	needTool(t, "setpriv")
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err != nil || strings.TrimSpace(string(b)) != "1024" {
		t.Skipf("ip_unprivileged_port_start is %q here, so port 80 proves nothing", bytes.TrimSpace(b))
	}
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	bin := helperCopy(t)
	env := []string{"RELAY_TEST_HELPER=listen", "RELAY_TEST_LISTEN=127.0.0.1:80", "RELAY_TEST_TARGET=" + target.addr()}

	// Without the capability: refused.
	h := startHelper(t, env, append(asNobody, bin)...)
	if code := h.exitCode(t); code != helperEACCES {
		t.Fatalf("nobody without the capability: exit %d, want %d (EACCES)", code, helperEACCES)
	}

	if out, err := exec.Command(setcap, "cap_net_bind_service=+ep", bin).CombinedOutput(); err != nil {
		t.Skipf("setcap failed (file system without security xattrs?): %v %s", err, out)
	}
	h = startHelper(t, env, append(asNobody, bin)...)
	ready := h.line(t)
	if !strings.HasPrefix(ready, "ready tcp:127.0.0.1:80 ") || !strings.HasSuffix(ready, " uid=65534") {
		t.Fatalf("helper said %q", ready)
	}
	c := dialTCP(t, "127.0.0.1:80")
	if got, err := roundTrip(c, "low port", 5*time.Second); got != "low port" {
		t.Fatalf("through port 80: %q, %v", got, err)
	}
	c.Close()
	if code := h.stop(t); code != helperOK {
		t.Fatalf("helper exited with %d", code)
	}
}

// strace shows the relay moving TCP payload with splice(2).
func TestSplice(t *testing.T) {
	strace := needTool(t, "strace")
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	trace := filepath.Join(t.TempDir(), "trace")
	bin, _ := os.Executable()
	h := startHelper(t, []string{"RELAY_TEST_HELPER=listen", "RELAY_TEST_LISTEN=127.0.0.1:0", "RELAY_TEST_TARGET=" + target.addr()},
		strace, "-f", "-qq", "-e", "trace=splice", "-o", trace, bin)
	ready := h.line(t)
	addr, _, _ := strings.Cut(strings.TrimPrefix(ready, "ready tcp:"), " ")
	c := dialTCP(t, addr)
	payload := make([]byte, 4<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo through the relay: %d bytes, %v", len(got), err)
	}
	if code := h.stop(t); code != helperOK {
		t.Fatalf("helper exited with %d", code)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var calls, moved int
	result := regexp.MustCompile(`\)\s+= (\d+)$`)
	for _, l := range strings.Split(string(b), "\n") {
		// With several threads a call may be split into "splice(… <unfinished …>"
		// and "<… splice resumed>)   = N".
		m := result.FindStringSubmatch(l)
		if !strings.Contains(l, "splice") || m == nil {
			continue
		}
		calls++
		n, _ := strconv.Atoi(m[1])
		moved += n
	}
	// Each byte goes socket to pipe and pipe to socket, both ways, except
	// what each direction reads before it knows the data is bulk: at most
	// one buffer of the small-message pump (see small_linux.go).
	if want := 4 * (len(payload) - smallBufSize); moved < want {
		t.Fatalf("%d splice calls moved %d bytes; want at least %d", calls, moved, want)
	}
}
