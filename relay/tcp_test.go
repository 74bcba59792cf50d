package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads len(msg) bytes back within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	b := make([]byte, len(msg))
	n, err := io.ReadFull(c, b)
	return string(b[:n]), err
}

// Large random payloads in both directions at once arrive byte for byte, and
// the counters agree with what was sent.
func TestTCPTransferLargeBothWays(t *testing.T) {
	const size = 16 << 20
	up := make([]byte, size)
	down := make([]byte, size+12345)
	rand.Read(up)
	rand.Read(down)

	gotUp := make(chan [32]byte, 1)
	target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write(down)
			c.CloseWrite()
		}()
		h := sha256.New()
		io.Copy(h, c)
		gotUp <- [32]byte(h.Sum(nil))
		wg.Wait()
	})
	r := startRelay(t, &Relay{Target: target.addr()})
	c := dialTCP(t, tcpAddrOf(t, r))

	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(up)
		c.CloseWrite()
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, down) {
		t.Fatalf("target to client: got %d bytes, want %d identical bytes", len(got), len(down))
	}
	c.Close()
	eventually(t, 2*time.Second, "connection to end", func() bool { return r.Stats().ActiveConns == 0 })
	if <-gotUp != sha256.Sum256(up) {
		t.Fatal("client to target: payload differs")
	}
	st := r.Stats()
	if st.BytesUp != size || st.BytesDown != uint64(len(down)) || st.Conns != 1 {
		t.Fatalf("stats = %+v, want BytesUp %d, BytesDown %d, Conns 1", st, size, len(down))
	}
}

// An EOF in one direction becomes a CloseWrite on the other side while the
// opposite direction keeps working.
func TestTCPHalfClose(t *testing.T) {
	t.Run("client closes first", func(t *testing.T) {
		target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
			req, err := io.ReadAll(c) // returns only on the relayed EOF
			if err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // the answer clearly comes after the EOF
			io.WriteString(c, "got "+string(req))
			c.CloseWrite()
		})
		r := startRelay(t, &Relay{Target: target.addr()})
		c := dialTCP(t, tcpAddrOf(t, r))
		io.WriteString(c, "question")
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := io.ReadAll(c)
		if err != nil || string(resp) != "got question" {
			t.Fatalf("read %q, %v; want %q and EOF", resp, err, "got question")
		}
	})
	t.Run("target closes first", func(t *testing.T) {
		gotc := make(chan string, 1)
		target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
			io.WriteString(c, "banner")
			c.CloseWrite()
			b, _ := io.ReadAll(c)
			gotc <- string(b)
		})
		r := startRelay(t, &Relay{Target: target.addr()})
		c := dialTCP(t, tcpAddrOf(t, r))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		banner, err := io.ReadAll(c)
		if err != nil || string(banner) != "banner" {
			t.Fatalf("read %q, %v; want banner and EOF", banner, err)
		}
		// After the EOF the client can still talk.
		for i := 0; i < 3; i++ {
			time.Sleep(10 * time.Millisecond)
			if _, err := io.WriteString(c, "more;"); err != nil {
				t.Fatal(err)
			}
		}
		c.CloseWrite()
		select {
		case got := <-gotc:
			if got != "more;more;more;" {
				t.Fatalf("target got %q", got)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("target did not get the client's data and EOF")
		}
	})
}

// Clients outside Allow are closed at once without reaching the target;
// IPv4 clients on a dual-stack socket are compared as IPv4.
func TestTCPAllow(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	cases := []struct {
		name       string
		allow      []string
		v4ok, v6ok bool
	}{
		{"everyone by default", nil, true, true},
		{"IPv4 loopback", []string{"127.0.0.0/8"}, true, false},
		{"IPv6 loopback", []string{"::1/128"}, false, true},
		{"mapped prefix means IPv4", []string{"::ffff:127.0.0.0/104"}, true, false},
		{"other networks", []string{"10.0.0.0/8", "fd00::/8"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var allow []netip.Prefix
			for _, p := range tc.allow {
				allow = append(allow, netip.MustParsePrefix(p))
			}
			before := target.accepted.Load()
			r := startRelay(t, &Relay{Listen: "[::]:0", Target: target.addr(), Allow: allow})
			port := r.Addrs()[0].(*net.TCPAddr).Port
			denied := 0
			for _, c := range []struct {
				host string
				ok   bool
			}{{"127.0.0.1", tc.v4ok}, {"::1", tc.v6ok}} {
				conn := dialTCP(t, net.JoinHostPort(c.host, itoa(port)))
				got, err := roundTrip(conn, "ping", 2*time.Second)
				if c.ok && got != "ping" {
					t.Errorf("%s: got %q, %v; want the echo", c.host, got, err)
				}
				if !c.ok {
					denied++
					if got != "" || err == nil || isTimeout(err) {
						t.Errorf("%s: got %q, %v; want the connection closed at once", c.host, got, err)
					}
				}
			}
			if st := r.Stats(); st.Denied != uint64(denied) {
				t.Errorf("Stats.Denied = %d, want %d", st.Denied, denied)
			}
			if n := target.accepted.Load() - before; n != int64(2-denied) {
				t.Errorf("target saw %d connections, want %d", n, 2-denied)
			}
		})
	}
}

// At MaxConns with every connection moving bytes, nothing is evicted: the
// next client waits until a slot frees, and then it is served.
func TestTCPConnCapWaitsWhenBusy(t *testing.T) {
	// The target streams to each client without end, so the download
	// direction of every connection is always copying.
	chunk := make([]byte, 32<<10)
	target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
		var first [1]byte
		if _, err := c.Read(first[:]); err != nil {
			return
		}
		c.Write(first[:])
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	r := startRelay(t, &Relay{Target: target.addr(), MaxConns: 2})
	addr := tcpAddrOf(t, r)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	busy := []*net.TCPConn{dialTCP(t, addr), dialTCP(t, addr)}
	for _, c := range busy {
		if got, err := roundTrip(c, "a", 2*time.Second); got != "a" {
			t.Fatalf("first two: got %q, %v", got, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); io.Copy(io.Discard, c) }()
	}
	c3 := dialTCP(t, addr) // the relay accepts it but has no slot yet
	got, err := roundTrip(c3, "b", 200*time.Millisecond)
	if !isTimeout(err) {
		t.Fatalf("third connection at the cap: got %q, %v; want no answer yet", got, err)
	}
	if st := r.Stats(); st.ActiveConns != 2 || st.Conns != 2 || st.Evicted != 0 {
		t.Fatalf("at the cap: stats %+v, want 2 active of 2, none evicted", st)
	}
	busy[0].Close()
	c3.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c3, b); err != nil || b[0] != 'b' {
		t.Fatalf("third connection after a slot freed: %q, %v", b, err)
	}
	busy[1].Close()
}

// A connection without traffic is closed once IdleTimeout has passed since
// bytes last moved, not a nanosecond sooner; one with traffic is not, even
// when only one direction moves. The test sweeps on virtual time (the
// server's clock read from the connections' own stamps), so a loaded machine
// cannot stretch or shrink the gaps: the watchdog's real tick (at most a
// second) cannot reach an hour of idleness during the test.
func TestTCPIdleTimeout(t *testing.T) {
	const idle = time.Hour
	sink := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	// SilentTimeout off: an hour of virtual time would otherwise end the
	// quiet connection as silent (never a byte) before the idle rule is asked.
	r := startRelay(t, &Relay{Target: sink.addr(), IdleTimeout: idle, SilentTimeout: -1})
	addr := tcpAddrOf(t, r)
	s := r.server()

	quiet := dialTCP(t, addr)
	busy := dialTCP(t, addr)
	eventually(t, 5*time.Second, "both connections relayed", func() bool { return len(connStamps(s)) == 2 })
	before := s.now()
	if _, err := busy.Write([]byte{1}); err != nil { // client to target only
		t.Fatal(err)
	}
	var quietLast, busyLast int64
	eventually(t, 5*time.Second, "the busy connection's activity stamp", func() bool {
		st := connStamps(s)
		if len(st) != 2 {
			return false
		}
		if st[0] > st[1] {
			st[0], st[1] = st[1], st[0]
		}
		quietLast, busyLast = st[0], st[1]
		return quietLast < before && busyLast >= before
	})

	s.sweep(quietLast + int64(idle) - 1)
	if st := r.Stats(); st.IdleClosed != 0 {
		t.Fatalf("a sweep 1 ns short of IdleTimeout closed %d connections", st.IdleClosed)
	}
	s.sweep(busyLast + int64(idle) - 1)
	if st := r.Stats(); st.IdleClosed != 1 {
		t.Fatalf("stats %+v after the quiet connection's IdleTimeout: want IdleClosed 1", st)
	}
	expectEOF(t, quiet, "the idle connection")
	// The closed connection leaves the table once both its directions end.
	eventually(t, 5*time.Second, "the idle connection to leave", func() bool { return len(connStamps(s)) == 1 })
	if st := connStamps(s); len(st) != 1 || st[0] != busyLast {
		t.Fatalf("left %v, want only the busy connection (stamp %d)", st, busyLast)
	}
	s.sweep(busyLast + int64(idle))
	if st := r.Stats(); st.IdleClosed != 2 {
		t.Fatalf("stats %+v after the busy connection's IdleTimeout: want IdleClosed 2", st)
	}
	expectEOF(t, busy, "the connection idle since its last byte")
	eventually(t, 5*time.Second, "no connection left", func() bool { return r.Stats().ActiveConns == 0 })
}

// The watchdog itself runs on the wall clock and looks often enough that a
// connection is ended between IdleTimeout and 1.25×IdleTimeout after its
// last byte (plus scheduling delay, which the test does not bound).
func TestTCPIdleWatchdog(t *testing.T) {
	const idle = 200 * time.Millisecond
	sink := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	r := startRelay(t, &Relay{Target: sink.addr(), IdleTimeout: idle})
	if tick := r.server().tick; tick <= 0 || tick > idle/4 {
		t.Fatalf("watchdog tick %v, want at most a quarter of %v", tick, idle)
	}
	start := time.Now()
	quiet := dialTCP(t, tcpAddrOf(t, r))
	expectEOF(t, quiet, "the idle connection")
	if took := time.Since(start); took < idle {
		t.Fatalf("idle connection closed after %v, before IdleTimeout %v", took, idle)
	}
	if st := r.Stats(); st.IdleClosed != 1 {
		t.Fatalf("stats %+v, want IdleClosed 1", st)
	}
}

// connStamps lists the activity stamps of the server's live connections.
func connStamps(s *server) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st []int64
	for c := range s.conns {
		st = append(st, c.last.Load())
	}
	return st
}

// expectEOF reads from c until the relay closes it (bounded, so a relay
// that never does fails the test instead of hanging it).
func expectEOF(t *testing.T, c *net.TCPConn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("%s: read %d, %v; want EOF", what, n, err)
	}
}

// With ProxyProtocol set, the target first reads a header naming the client
// and the address it connected to, then the payload.
func TestTCPProxyProtocol(t *testing.T) {
	for _, tc := range []struct {
		version int
		listen  string
		dial    string
	}{
		{1, "127.0.0.1:0", "127.0.0.1"},
		{1, "[::1]:0", "::1"},
		{2, "127.0.0.1:0", "127.0.0.1"},
		{2, "[::]:0", "::1"},
		{2, "[::]:0", "127.0.0.1"}, // dual-stack socket: still IPv4 in the header
	} {
		t.Run(itoa(tc.version)+" "+tc.dial+" via "+tc.listen, func(t *testing.T) {
			gotc := make(chan []byte, 1)
			target := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				b, _ := io.ReadAll(c)
				gotc <- b
			})
			r := startRelay(t, &Relay{Listen: tc.listen, Target: target.addr(), ProxyProtocol: tc.version})
			port := r.Addrs()[0].(*net.TCPAddr).Port
			c := dialTCP(t, net.JoinHostPort(tc.dial, itoa(port)))
			io.WriteString(c, "payload")
			c.CloseWrite()
			got := <-gotc
			client := c.LocalAddr().(*net.TCPAddr).AddrPort()
			server := netip.AddrPortFrom(netip.MustParseAddr(tc.dial), uint16(port))
			hdr, rest, err := parseProxyHeaderForTest(got)
			if err != nil {
				t.Fatalf("%q: %v", got, err)
			}
			if hdr.src != client || hdr.dst != server || string(rest) != "payload" {
				t.Fatalf("header %+v then %q; want %v -> %v then payload", hdr, rest, client, server)
			}
		})
	}
}

// Each connection gets one log line when it ends, with what a user checks.
func TestTCPLogLine(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	r := startRelay(t, &Relay{Target: target.addr(), Logger: log})
	c := dialTCP(t, tcpAddrOf(t, r))
	roundTrip(c, "hello", 2*time.Second)
	c.CloseWrite()
	io.ReadAll(c)
	c.Close()
	eventually(t, 2*time.Second, "connection to end", func() bool { return r.Stats().ActiveConns == 0 })
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"client=" + c.LocalAddr().String(), "up=5", "down=5", "duration=", "end=closed"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}
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

// Shutdown stops accepting, lets live connections finish within
// ShutdownTimeout and then cuts the rest.
func TestShutdownDrainsThenCuts(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	const grace = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{Listen: "127.0.0.1:0", Target: target.addr(), ShutdownTimeout: grace}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := tcpAddrOf(t, r)
	finisher, lingerer := dialTCP(t, addr), dialTCP(t, addr)
	for _, c := range []net.Conn{finisher, lingerer} {
		if got, err := roundTrip(c, "x", 2*time.Second); got != "x" {
			t.Fatal(got, err)
		}
	}
	start := time.Now()
	cancel()
	waited := make(chan error, 1)
	go func() { waited <- r.Wait() }()

	eventually(t, time.Second, "listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Live connections still work during the grace period.
	if got, err := roundTrip(finisher, "still here", time.Second); got != "still here" {
		t.Fatalf("during drain: %q, %v", got, err)
	}
	finisher.CloseWrite()
	if b, err := io.ReadAll(finisher); err != nil || len(b) != 0 {
		t.Fatalf("finisher: %q, %v", b, err)
	}
	// The lingering one is cut at the end of the grace period.
	lingerer.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := lingerer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("lingering connection: %d, %v; want EOF", n, err)
	}
	if d := time.Since(start); d < grace {
		t.Fatalf("cut after %v, before the grace period of %v", d, grace)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait did not return after the cut")
	}
	if st := r.Stats(); st.ActiveConns != 0 {
		t.Fatalf("after shutdown: %+v", st)
	}
}

// When every connection ends by itself, shutdown does not wait for the
// whole grace period.
func TestShutdownReturnsWhenDrained(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{Listen: "127.0.0.1:0", Target: target.addr(), ShutdownTimeout: time.Minute}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := dialTCP(t, tcpAddrOf(t, r))
	roundTrip(c, "x", 2*time.Second)
	cancel()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	c.Close()
	done := make(chan error, 1)
	go func() { done <- r.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the last connection ended")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func itoa(i int) string { return strconv.Itoa(i) }

func dialRaw(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

// A connection on which nothing is sent either way is closed after
// SilentTimeout; one where the client spoke, and one where only the target
// spoke (a server that greets first), are not.
func TestTCPSilentTimeout(t *testing.T) {
	const silent = 150 * time.Millisecond
	greeter := startTCPServer(t, "tcp", "127.0.0.1:0", func(c *net.TCPConn) {
		c.Write([]byte("220 hello\n"))
		echo(c)
	})
	r := startRelay(t, &Relay{Target: greeter.addr(), SilentTimeout: silent})
	addr := tcpAddrOf(t, r)
	mute := dialTCP(t, addr)
	greeted := dialTCP(t, addr)
	b := make([]byte, len("220 hello\n"))
	greeted.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(greeted, b); err != nil {
		t.Fatalf("greeting: %q, %v", b, err)
	}
	// This client never sends a byte, but the target did: not silent.
	mute.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(mute, b); err != nil {
		t.Fatalf("greeting on the second connection: %q, %v", b, err)
	}

	// A target that waits for the client to speak first.
	quiet := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	r2 := startRelay(t, &Relay{Target: quiet.addr(), SilentTimeout: silent})
	addr2 := tcpAddrOf(t, r2)
	talker, silentConn := dialTCP(t, addr2), dialTCP(t, addr2)
	if got, err := roundTrip(talker, "hi", 2*time.Second); got != "hi" {
		t.Fatal(got, err)
	}
	silentConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silentConn.Read(b); err == nil || isTimeout(err) {
		t.Fatalf("silent connection: read %d bytes, %v; want it closed", n, err)
	}
	if st := r2.Stats(); st.SilentClosed != 1 {
		t.Fatalf("stats %+v, want 1 closed for silence", st)
	}
	if got, err := roundTrip(talker, "still", 2*time.Second); got != "still" {
		t.Fatalf("the client that spoke, after the silent one was closed: %q, %v", got, err)
	}
	if got, err := roundTrip(greeted, "yes", 2*time.Second); got != "yes" {
		t.Fatalf("the client the target greeted: %q, %v", got, err)
	}
	if _, err := io.WriteString(mute, "late"); err != nil {
		t.Fatalf("the greeted client that had not spoken yet: %v", err)
	}
	if st := r.Stats(); st.SilentClosed != 0 || st.ActiveConns != 2 {
		t.Fatalf("greeted connections closed for silence: %+v", st)
	}
}
