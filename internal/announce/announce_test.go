package announce

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func udpFrom(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestReceiveOnlyFromSource(t *testing.T) {
	gw := udpFrom(t, "127.0.0.2:0")
	intruder := udpFrom(t, "127.0.0.3:0")
	l, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), gw.LocalAddr().(*net.UDPAddr).AddrPort(), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	to := net.UDPAddrFromAddrPort(l.LocalAddr())
	if _, err := intruder.WriteToUDP([]byte("spoofed"), to); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.WriteToUDP([]byte("genuine"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := l.Receive(buf)
	if err != nil || string(buf[:n]) != "genuine" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestReceiveBounded(t *testing.T) {
	gw := udpFrom(t, "127.0.0.2:0")
	l, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), gw.LocalAddr().(*net.UDPAddr).AddrPort(), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := gw.WriteToUDP(make([]byte, 4000), net.UDPAddrFromAddrPort(l.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8000)
	n, err := l.Receive(buf)
	if err != nil || n != MaxSize {
		t.Fatalf("read %d bytes (%v), want the first %d", n, err, MaxSize)
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	l, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("127.0.0.2:5351"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Receive(make([]byte, 16))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Receive still blocked after Close")
	}
}

func TestListenRejectsBadAddr(t *testing.T) {
	if _, err := Listen(netip.AddrPort{}, netip.AddrPort{}, netip.Addr{}); err == nil {
		t.Fatal("listened on the zero address")
	}
}

// TestListenWildcardIsIPv4: a wildcard IPv4 address gets an IPv4 socket.
// Go's "udp" network would open a dual-stack IPv6 socket for 0.0.0.0, which
// missed miniupnpd's IPv4 announcements in the lab.
func TestListenWildcardIsIPv4(t *testing.T) {
	gw := udpFrom(t, "127.0.0.2:0")
	l, err := Listen(netip.MustParseAddrPort("0.0.0.0:0"), gw.LocalAddr().(*net.UDPAddr).AddrPort(), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a := l.LocalAddr().Addr(); !a.Is4() {
		t.Fatalf("bound %v: not an IPv4 socket", l.LocalAddr())
	}
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.LocalAddr().Port())
	if _, err := gw.WriteToUDP([]byte("announce"), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := l.Receive(buf)
	if err != nil || string(buf[:n]) != "announce" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}
