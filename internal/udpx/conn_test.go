package udpx

import (
	"context"
	"net/netip"
	"testing"
)

// TestDialFromBindsSource: a PCP request for an IPv6 pinhole must leave from
// the address being opened, so DialFrom binds the socket to the address it
// is given (127.0.0.2 here, on loopback, where the kernel would choose
// 127.0.0.1).
func TestDialFromBindsSource(t *testing.T) {
	peer := netip.MustParseAddrPort("127.0.0.1:9")
	from := netip.MustParseAddr("127.0.0.2")
	c, err := DialFrom(context.Background(), from, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().Addr(); got != from {
		t.Fatalf("local address %v, want %v", got, from)
	}
	d, err := Dial(context.Background(), peer)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.LocalAddr().Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("Dial chose %v, want the kernel's 127.0.0.1", got)
	}
}
