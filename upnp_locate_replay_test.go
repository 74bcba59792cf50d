package upnpmap

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// These tests map through captured descriptions of real routers
// (testdata/routers, served by gatewaytest's Config.Replay), UPnP alone.

// mikrotikWAN1 is the control path of the MikroTik capture's first
// WANIPConnection (the first WAN); wanipconn-7 is the second.
const mikrotikWAN1 = "/upnp/control/yomkmsnooi/wanipconn-1"

// TestUPnPMapMultiWANConnectedService: on a two-WAN MikroTik whose first
// uplink is down, Map asks both connection services for their status and
// maps through the connected second one; the down one would refuse.
func TestUPnPMapMultiWANConnectedService(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{Replay: os.DirFS("testdata/routers/mikrotik-chr-7.10-two-wan")}, UPnP)
	gw.SetServiceDown(mikrotikWAN1, true)
	m := mustMap(t, c, Request{InternalPort: 5330, ExternalPort: 5330, Lifetime: time.Hour})
	if m.Method() != UPnP || m.External().Port() != 5330 {
		t.Fatalf("mapped %v %v", m.Method(), m.External())
	}
	if n := gw.Requests("GetStatusInfo"); n != 2 {
		t.Errorf("%d GetStatusInfo requests, want 2 (one per WAN service)", n)
	}
	if n := gw.Requests("AddPortMapping"); n != 1 {
		t.Errorf("%d AddPortMapping requests, want 1 (on the connected service only)", n)
	}
	if len(gw.Mappings()) != 1 {
		t.Fatalf("gateway table %v, want the one mapping", gw.Mappings())
	}
}

// TestUPnPMapReplayedSingleService: routers with one connection service of
// an unusual type map through it without a status request: the Orange
// Livebox (WANPPPConnection:2 only) and the Huawei HG531 (the DSL Forum's
// WANPPPConnection:1).
func TestUPnPMapReplayedSingleService(t *testing.T) {
	for _, dir := range []string{"orange-livebox-3", "huawei-hg531-v1"} {
		t.Run(dir, func(t *testing.T) {
			gw, c := testGateway(t, gatewaytest.Config{Replay: os.DirFS("testdata/routers/" + dir)}, UPnP)
			m := mustMap(t, c, Request{InternalPort: 5331, ExternalPort: 5331, Lifetime: time.Hour})
			if m.Method() != UPnP || m.External().Port() != 5331 {
				t.Fatalf("mapped %v %v", m.Method(), m.External())
			}
			if n := gw.Requests("GetStatusInfo"); n != 0 {
				t.Errorf("%d GetStatusInfo requests for a single service, want 0", n)
			}
			if n := gw.Requests("AddPortMapping"); n == 0 {
				t.Error("no AddPortMapping reached the gateway")
			}
		})
	}
}

// TestUPnPMapUnusableDevice: a gateway whose description offers no
// connection service is an unusable device, not a missing gateway, and the
// error says why: what it offered (only Layer3Forwarding), or — behind 6000
// nested bare devices — that the description nests too deep to read.
func TestUPnPMapUnusableDevice(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gatewaytest.Config
		want string
	}{
		{"only Layer3Forwarding", gatewaytest.Config{OnlyLayer3Forwarding: true}, "Layer3Forwarding:1"},
		{"nested 6000 deep", gatewaytest.Config{OnlyLayer3Forwarding: true, NestedDevices: 6000}, "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := testGateway(t, tc.cfg, UPnP)
			c.ProbeTimeout = 5 * time.Second // a 250 KB description on a busy machine
			m, err := c.Map(context.Background(), Request{InternalPort: 5332, Lifetime: time.Hour})
			if err == nil {
				m.Close()
				t.Fatal("Map succeeded on a device without a connection service")
			}
			if !errors.Is(err, ErrUnusableDevice) || errors.Is(err, ErrNoGateway) {
				t.Fatalf("error %q: want ErrUnusableDevice and not ErrNoGateway", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestUPnPChooseGoverned: choosing among several connection services (a
// GetStatusInfo each) is one exchange for the gateway's governor, though
// part of a first Map; a single service is chosen without a request and
// costs nothing. The Client's clock stands still, so the bucket does not
// refill behind the test's back.
func TestUPnPChooseGoverned(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		wantUsed float64
	}{
		{"mikrotik-chr-7.10-two-wan", 1},
		{"orange-livebox-3", 0},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			_, c := testGateway(t, gatewaytest.Config{Replay: os.DirFS("testdata/routers/" + tc.dir)}, UPnP)
			c.clk = newFakeClock()
			c.settleAfter = time.Hour // no read-back: it would take a token too
			m := mustMap(t, c, Request{InternalPort: 5333, Lifetime: time.Hour})
			g := &m.gw.gov
			g.mu.Lock()
			used := 0.0 // an unprimed governor is full
			if g.primed {
				used = governorBurst - g.tokens
			}
			g.mu.Unlock()
			if used != tc.wantUsed {
				t.Errorf("%v governor tokens used, want %v", used, tc.wantUsed)
			}
		})
	}
}
