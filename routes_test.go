package upnpmap

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
)

// TestDefaultGatewaysReused: Map's two looks at the routing table (IPv6
// router, then IPv4 gateway) cost one read; an older read is not reused.
func TestDefaultGatewaysReused(t *testing.T) {
	reads := 0
	gw := discovery.Gateway{Addr: netip.MustParseAddr("192.0.2.1"), Local: netip.MustParseAddr("192.0.2.10")}
	c := &Client{}
	c.routes.read = func() ([]discovery.Gateway, error) {
		reads++
		return []discovery.Gateway{gw}, nil
	}
	for i := 0; i < 2; i++ {
		gws, err := c.defaultGateways()
		if err != nil || len(gws) != 1 || gws[0] != gw {
			t.Fatalf("read %d: %v, %v; want [%v]", i, gws, err, gw)
		}
	}
	if reads != 1 {
		t.Errorf("two lookups in a row read the table %d times, want 1", reads)
	}
	c.routes.at = time.Now().Add(-routeReuse) // the read has aged
	if _, err := c.defaultGateways(); err != nil || reads != 2 {
		t.Errorf("a lookup after routeReuse: err %v, %d reads; want a fresh read (2)", err, reads)
	}

	// A failed read is reused like a good one, and then read again.
	failing := errors.New("no route")
	c.routes = routeMemo{read: func() ([]discovery.Gateway, error) { reads++; return nil, failing }}
	reads = 0
	for i := 0; i < 2; i++ {
		if _, err := c.defaultGateways(); !errors.Is(err, failing) {
			t.Fatalf("failing read %d: err %v", i, err)
		}
	}
	if reads != 1 {
		t.Errorf("failing reads: %d, want 1", reads)
	}
}
