package upnpmap

import (
	"context"
	"errors"
	"testing"

	"github.com/upnpmap/upnpmap/discovery"
)

// The package-level functions use the routing table. In the test namespace
// there is no default route, so they must fail with ErrNoGateway at once;
// on a host with a default route the test does not run, because it would
// talk to the real router.
func TestPackageLevelNoDefaultRoute(t *testing.T) {
	if gws, err := discovery.DefaultGateways(); err == nil && len(gws) > 0 {
		t.Skipf("this host has a default route via %v: not talking to a real router from a test", gws[0].Addr)
	}
	ctx := context.Background()
	if _, err := Discover(ctx); !errors.Is(err, ErrNoGateway) {
		t.Errorf("Discover: %v", err)
	}
	if _, err := Map(ctx, Request{InternalPort: 1}); !errors.Is(err, ErrNoGateway) {
		t.Errorf("Map: %v", err)
	}
	if _, err := ExternalAddr(ctx); !errors.Is(err, ErrNoGateway) {
		t.Errorf("ExternalAddr: %v", err)
	}
}
