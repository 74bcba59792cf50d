package upnpmap

import (
	"context"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Tests of upnp_add.go: how a UPnP mapping is added and renewed, drafted
// from the quirk catalogue (docs/QUIRKS.md).

// TestUPnPNoPermanentEntryWithoutExternalAddress (docs/QUIRKS.md Q35,
// tailscale#10602): on a permanent-only router whose GetExternalIPAddress
// fails, Map fails before AddPortMapping, so no permanent rule is left.
func TestUPnPNoPermanentEntryWithoutExternalAddress(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{PermanentOnly: true}, UPnP)
	gw.FailAction("GetExternalIPAddress", 501)
	if m, err := c.Map(context.Background(), Request{InternalPort: 4600, Lifetime: time.Hour}); err == nil {
		m.Close()
		t.Fatal("mapped although the router could not tell its external address")
	}
	if n := gw.Requests("AddPortMapping"); n != 0 {
		t.Errorf("%d AddPortMapping requests, want 0", n)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("left in the router's table: %+v", ms)
	}
}

// TestUPnPRenewalDeletesNothing (docs/QUIRKS.md Q39, go-ethereum#31566): a
// UPnP renewal re-sends AddPortMapping; it never deletes the entry first.
func TestUPnPRenewalDeletesNothing(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	m := mustMap(t, c, Request{InternalPort: 4601, Lifetime: 2 * time.Second})
	wantEvents(t, m, Renewed)
	wantEvents(t, m, Renewed)
	if n := gw.Requests("DeletePortMapping"); n != 0 {
		t.Errorf("%d DeletePortMapping requests during renewals, want 0", n)
	}
	if n := gw.Requests("AddPortMapping"); n < 3 {
		t.Errorf("%d AddPortMapping requests, want the first and two renewals", n)
	}
}

// TestUPnPConflictWalkSkipsWellKnownPorts (docs/QUIRKS.md Q29, Tailscale's
// portmapper): after a conflict on a port below 1024, the next port tried is
// 1024, not 81: some routers refuse well-known external ports.
func TestUPnPConflictWalkSkipsWellKnownPorts(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{IGDVersion: 1}, UPnP)
	gw.AddMapping(gatewaytest.Mapping{ExternalPort: 80}) // another host's
	m := mustMap(t, c, Request{InternalPort: 8080, ExternalPort: 80})
	if p := m.External().Port(); p != 1024 {
		t.Errorf("granted port %d, want 1024", p)
	}
	if n := gw.Requests("AddPortMapping"); n != 2 {
		t.Errorf("%d AddPortMapping requests, want 2 (80, then 1024)", n)
	}
}
