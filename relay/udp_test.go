package relay

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpEcho answers each datagram with "<source address it came from>|<payload>",
// so tests can see which upstream socket (session) carried it.
func udpEcho(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(from.String()+"|"+string(b[:n])), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func udpClient(t *testing.T, network, relay string) *net.UDPConn {
	t.Helper()
	c, err := net.Dial(network, relay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// exchange sends msg and returns the answer's upstream source and payload,
// or an error when nothing comes within timeout.
func exchange(c *net.UDPConn, msg string, timeout time.Duration) (src, payload string, err error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", "", err
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	b := make([]byte, 65536)
	n, err := c.Read(b)
	if err != nil {
		return "", "", err
	}
	src, payload, _ = strings.Cut(string(b[:n]), "|")
	return src, payload, nil
}

// Several clients get a session each, see only their own replies, and a
// session that expired is created again (with a new upstream socket) by the
// client's next datagram. The sessions expire on virtual time (a sweep an
// IdleTimeout past now): with a real short timeout a loaded machine let a
// session expire between a datagram and its echo, and the reply was lost.
func TestUDPSessions(t *testing.T) {
	const idle = time.Hour
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{Network: "udp", Target: target, IdleTimeout: idle})
	addr := udpAddrOf(t, r)

	clients := []*net.UDPConn{udpClient(t, "udp", addr), udpClient(t, "udp", addr), udpClient(t, "udp", addr)}
	upstream := map[string]int{}
	for round := 0; round < 3; round++ {
		for i, c := range clients {
			msg := "client" + itoa(i) + "-" + itoa(round)
			src, got, err := exchange(c, msg, 2*time.Second)
			if err != nil || got != msg {
				t.Fatalf("client %d round %d: %q, %v", i, round, got, err)
			}
			if j, ok := upstream[src]; ok && j != i {
				t.Fatalf("clients %d and %d share upstream socket %s", i, j, src)
			}
			upstream[src] = i
		}
	}
	if len(upstream) != 3 {
		t.Fatalf("%d upstream sockets for 3 clients", len(upstream))
	}
	// A large datagram goes through whole.
	big := strings.Repeat("x", 60000)
	if _, got, err := exchange(clients[0], big, 2*time.Second); err != nil || got != big {
		t.Fatalf("60000-byte datagram: %d bytes back, %v", len(got), err)
	}
	st := r.Stats()
	if st.Sessions != 3 || st.ActiveSessions != 3 || st.PacketsUp != 10 || st.PacketsDown != 10 {
		t.Fatalf("stats %+v, want 3 sessions and 10 datagrams each way", st)
	}

	srv := r.server()
	for _, u := range srv.udp {
		u.expire(srv.now()+int64(idle), idle)
	}
	eventually(t, 2*time.Second, "sessions to expire", func() bool { return r.Stats().ActiveSessions == 0 })
	if st := r.Stats(); st.IdleClosed != 3 {
		t.Fatalf("IdleClosed = %d, want 3", st.IdleClosed)
	}
	src, got, err := exchange(clients[1], "again", 2*time.Second)
	if err != nil || got != "again" {
		t.Fatalf("after expiry: %q, %v", got, err)
	}
	if _, seen := upstream[src]; seen {
		t.Fatalf("re-created session reused upstream socket %s", src)
	}
	if st := r.Stats(); st.Sessions != 4 || st.ActiveSessions != 1 {
		t.Fatalf("stats %+v, want 4 sessions created, 1 alive", st)
	}
}

// The watchdog ends a UDP session on the wall clock: a client that sends one
// datagram and falls quiet has its session ended (the echo may or may not
// get back first; that is not what is checked).
func TestUDPIdleWatchdog(t *testing.T) {
	const idle = 150 * time.Millisecond
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{Network: "udp", Target: target, IdleTimeout: idle})
	c := udpClient(t, "udp", udpAddrOf(t, r))
	if _, err := c.Write([]byte("once")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the session", func() bool { return r.Stats().Sessions == 1 })
	eventually(t, 5*time.Second, "the quiet session to expire", func() bool { return r.Stats().ActiveSessions == 0 })
	if st := r.Stats(); st.IdleClosed != 1 {
		t.Fatalf("stats %+v, want IdleClosed 1", st)
	}
}

// At MaxSessions a new client is still served: the session quiet the
// longest is ended to make room, and its client's next datagram starts a new
// one (on a new upstream socket).
func TestUDPSessionCapEvicts(t *testing.T) {
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{Network: "udp", Target: target, MaxSessions: 1})
	addr := udpAddrOf(t, r)
	a, b := udpClient(t, "udp", addr), udpClient(t, "udp", addr)
	srcA, got, err := exchange(a, "a1", 2*time.Second)
	if got != "a1" {
		t.Fatal(got, err)
	}
	if _, got, err := exchange(b, "b1", 2*time.Second); got != "b1" {
		t.Fatalf("second client at the cap: %q, %v; want it served", got, err)
	}
	if st := r.Stats(); st.Evicted != 1 || st.Sessions != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want 1 evicted, 2 sessions, none dropped", st)
	}
	srcA2, got, err := exchange(a, "a2", 2*time.Second)
	if got != "a2" {
		t.Fatalf("evicted client again: %q, %v", got, err)
	}
	if srcA2 == srcA {
		t.Fatalf("evicted client's new session reused upstream socket %s", srcA)
	}
	if st := r.Stats(); st.Evicted != 2 || st.Sessions != 3 {
		t.Fatalf("stats %+v, want 2 evicted, 3 sessions", st)
	}
}

// Allow applies to UDP clients, IPv4 and IPv6, on a dual-stack socket.
func TestUDPAllow(t *testing.T) {
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{
		Network: "udp", Listen: "[::]:0", Target: target,
		Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")},
	})
	port := itoa(r.Addrs()[0].(*net.UDPAddr).Port)
	v4, v6 := udpClient(t, "udp4", "127.0.0.1:"+port), udpClient(t, "udp6", "[::1]:"+port)
	if _, got, err := exchange(v6, "six", 2*time.Second); got != "six" {
		t.Fatalf("allowed IPv6 client: %q, %v", got, err)
	}
	if _, got, err := exchange(v4, "four", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("denied IPv4 client: %q, %v; want nothing", got, err)
	}
	if st := r.Stats(); st.Denied != 1 || st.Sessions != 1 {
		t.Fatalf("stats %+v, want 1 denied, 1 session", st)
	}
}

// "both" relays TCP and UDP on the same port.
func TestBothNetworks(t *testing.T) {
	tcpTarget := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	// The UDP echo listens on the same port number as the TCP echo.
	udpEcho(t, tcpTarget.addr())
	r := startRelay(t, &Relay{Network: "both", Target: tcpTarget.addr()})
	if tcpAddrOf(t, r)[strings.LastIndex(tcpAddrOf(t, r), ":"):] != udpAddrOf(t, r)[strings.LastIndex(udpAddrOf(t, r), ":"):] {
		t.Fatalf("TCP on %s, UDP on %s: want one port", tcpAddrOf(t, r), udpAddrOf(t, r))
	}
	if got, err := roundTrip(dialTCP(t, tcpAddrOf(t, r)), "tcp", 2*time.Second); got != "tcp" {
		t.Fatal(got, err)
	}
	if _, got, err := exchange(udpClient(t, "udp", udpAddrOf(t, r)), "udp", 2*time.Second); got != "udp" {
		t.Fatal(got, err)
	}
}

// UDP sessions are cut at the end of the shutdown grace period, and no new
// session starts during it.
func TestUDPShutdown(t *testing.T) {
	target := udpEcho(t, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{Network: "udp", Listen: "127.0.0.1:0", Target: target, ShutdownTimeout: 200 * time.Millisecond}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := udpAddrOf(t, r)
	old, late := udpClient(t, "udp", addr), udpClient(t, "udp", addr)
	if _, got, err := exchange(old, "1", 2*time.Second); got != "1" {
		t.Fatal(got, err)
	}
	cancel()
	if _, got, err := exchange(old, "2", time.Second); got != "2" {
		t.Fatalf("live session during drain: %q, %v", got, err)
	}
	if _, got, err := exchange(late, "3", 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new client during drain: %q, %v; want nothing", got, err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Wait did not return")
	}
	if st := r.Stats(); st.ActiveSessions != 0 {
		t.Fatalf("after shutdown: %+v", st)
	}
}
