package relay

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	} {
		if got := sourceOf(netip.MustParseAddr(tc.addr)); got != netip.MustParsePrefix(tc.want) {
			t.Errorf("sourceOf(%s) = %v, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestSourceCounts(t *testing.T) {
	sc := newSourceCounts(2)
	a, b := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")
	for i, want := range []bool{true, true, false} {
		if got := sc.take(a); got != want {
			t.Fatalf("take %d for a: %v, want %v (limit 2)", i+1, got, want)
		}
	}
	if !sc.take(b) {
		t.Fatal("a at its limit must not stop b")
	}
	sc.give(a)
	if !sc.take(a) {
		t.Fatal("a slot given back must be taken again")
	}
	sc.give(a)
	sc.give(a)
	sc.give(b)
	if len(sc.n) != 0 {
		t.Fatalf("counts left after every entry was given back: %v", sc.n)
	}
	off := newSourceCounts(0)
	for i := 0; i < 3; i++ {
		if !off.take(a) {
			t.Fatal("limit 0 must admit everyone")
		}
	}
	if len(off.n) != 0 {
		t.Fatal("limit 0 must keep no map")
	}
	if !sc.take(netip.Prefix{}) {
		t.Fatal("a client without an address must not be limited")
	}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// With the defaults, 256 connections from one source that send nothing do
// not stop another source from being served: the first
// DefaultMaxConnsPerSource are relayed, the rest refused and counted.
func TestTCPPerSourceLimitByDefault(t *testing.T) {
	const flood = 256
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	// SilentTimeout off so that a slow machine cannot end the flood's
	// connections before they are counted; every other setting is default.
	r := startRelay(t, &Relay{Target: target.addr(), SilentTimeout: -1})
	addr := tcpAddrOf(t, r)
	tcpFlood(t, "127.0.0.1", addr, flood)
	eventually(t, 10*time.Second, "the flood to be accepted or refused", func() bool {
		st := r.Stats()
		return st.Conns+st.Refused == flood
	})
	if got, err := roundTrip(dialFrom(t, "127.0.0.2", addr), "other source", 5*time.Second); got != "other source" {
		t.Fatalf("another source after the flood: %q, %v", got, err)
	}
	st := r.Stats()
	if st.Refused != flood-DefaultMaxConnsPerSource || st.Conns != DefaultMaxConnsPerSource+1 || st.Evicted != 0 {
		t.Fatalf("stats %+v: want %d refused, %d relayed, none evicted", st, flood-DefaultMaxConnsPerSource, DefaultMaxConnsPerSource+1)
	}
}

// A source at its limit gets a slot back when one of its connections ends.
func TestTCPPerSourceSlotFreed(t *testing.T) {
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	r := startRelay(t, &Relay{Target: target.addr(), MaxConnsPerSource: 1})
	addr := tcpAddrOf(t, r)
	first := dialFrom(t, "127.0.0.1", addr)
	if got, err := roundTrip(first, "1", 5*time.Second); got != "1" {
		t.Fatal(got, err)
	}
	// The reset may come before the handshake is reported done, or after.
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	if second, err := d.Dial("tcp", addr); err == nil {
		defer second.Close()
		if _, err := roundTrip(second, "2", 5*time.Second); err == nil {
			t.Fatal("second connection from a source at its limit was served")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	first.Close()
	eventually(t, 5*time.Second, "the first connection to end", func() bool { return r.Stats().ActiveConns == 0 })
	if got, err := roundTrip(dialFrom(t, "127.0.0.1", addr), "3", 5*time.Second); got != "3" {
		t.Fatalf("after the first ended: %q, %v", got, err)
	}
	if st := r.Stats(); st.Refused != 1 || st.Conns != 2 {
		t.Fatalf("stats %+v, want 1 refused, 2 relayed", st)
	}
}

// tcpFlood opens n connections from the loopback address src to addr and
// leaves them mute until the end of the test. A connection the relay resets
// at once may fail its connect already; that is not an error here.
func tcpFlood(t *testing.T, src, addr string, n int) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.ECONNRESET) {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// udpFlood sends one datagram from each of n sockets bound to src, in steps
// small enough for the socket buffers, waiting until the relay has counted
// each step. It returns the sockets.
func udpFlood(t *testing.T, r *Relay, src, addr string, n int) []*net.UDPConn {
	t.Helper()
	const step = 25
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	counted := func() uint64 { st := r.Stats(); return st.Sessions + st.Refused }
	base := counted()
	var out []*net.UDPConn
	for i := 0; i < n; i++ {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, raddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
		if _, err := c.Write([]byte("flood")); err != nil {
			t.Fatal(err)
		}
		if (i+1)%step == 0 || i == n-1 {
			want := base + uint64(i+1)
			eventually(t, 10*time.Second, "the relay to count the flood", func() bool { return counted() == want })
		}
	}
	return out
}

// With the defaults, 300 UDP sources that differ only in their port do not
// stop a new source: the per-source limit refuses all but
// DefaultMaxSessionsPerSource of them.
func TestUDPPerSourceLimitByDefault(t *testing.T) {
	const flood = 300
	target := udpEcho(t, "127.0.0.1:0")
	r := startRelay(t, &Relay{Network: "udp", Target: target})
	addr := udpAddrOf(t, r)
	udpFlood(t, r, "127.0.0.1", addr, flood)
	raddr, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, got, err := exchange(c, "new source", 5*time.Second); got != "new source" {
		t.Fatalf("a new source after the flood: %q, %v", got, err)
	}
	st := r.Stats()
	if st.Refused != flood-DefaultMaxSessionsPerSource || st.Sessions != DefaultMaxSessionsPerSource+1 || st.Evicted != 0 {
		t.Fatalf("stats %+v: want %d refused, %d sessions, none evicted", st, flood-DefaultMaxSessionsPerSource, DefaultMaxSessionsPerSource+1)
	}
}
