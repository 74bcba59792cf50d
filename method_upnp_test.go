package upnpmap

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// TestGatewaySecureMode718: a router in UPnP secure mode that refuses a
// mapping for another host with 718 (miniupnpd does, and IGD:1 specifies it)
// rather than 606 is a refusal (ErrNotAuthorized), not a port conflict: no
// other port is tried, and the error says why.
//
// IGD:1 specifies 718 there; miniupnpd 2.3.1 answers 718 under IGD:2 as
// well, where the specification says 606 (gatewaytest's Miniupnpd knob).
func TestGatewaySecureMode718(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   gatewaytest.Config
		exact bool
	}{
		{"IGD:1 any port", gatewaytest.Config{SecureMode: true, IGDVersion: 1}, false},
		{"IGD:1 exact port", gatewaytest.Config{SecureMode: true, IGDVersion: 1}, true},
		{"miniupnpd IGD:2 any port", gatewaytest.Config{SecureMode: true, Miniupnpd: true}, false},
		{"miniupnpd IGD:2 exact port", gatewaytest.Config{SecureMode: true, Miniupnpd: true}, true},
	} {
		exact := tc.exact
		t.Run(tc.name, func(t *testing.T) {
			gw, c := testGateway(t, tc.cfg, UPnP)
			_, err := c.Map(context.Background(), Request{InternalPort: 22000, InternalAddr: gatewaytest.OtherHost, ExactPort: exact})
			if !errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrPortInUse) {
				t.Fatalf("err %v: want ErrNotAuthorized, not ErrPortInUse", err)
			}
			var ue *igd.UPnPError
			if !errors.As(err, &ue) || ue.Code != 718 {
				t.Fatalf("the router's 718 is not in the chain: %v", err)
			}
			for _, want := range []string{"another host", "secure mode", "718", gatewaytest.OtherHost.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n := gw.Requests("AddPortMapping"); n != 1 {
				t.Fatalf("%d AddPortMapping requests: other ports were tried", n)
			}
			if n := len(gw.Mappings()); n != 0 {
				t.Fatalf("table %+v", gw.Mappings())
			}
			// Our own host is still served.
			m := mustMap(t, c, Request{InternalPort: 22001})
			if m.Method() != UPnP || m.External().Port() != 22001 {
				t.Fatalf("own mapping %v via %v", m.External(), m.Method())
			}
		})
	}
}

// TestGatewayConflictForAnotherHost: a real 718 conflict for another host
// (the port is held by a third host) stays a conflict: without secure mode
// another port is found; in secure mode with ExactPort it is ErrPortInUse.
func TestGatewayConflictForAnotherHost(t *testing.T) {
	third := netip.MustParseAddr("192.168.1.201")
	t.Run("no secure mode", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{IGDVersion: 1}, UPnP)
		gw.AddMapping(gatewaytest.Mapping{ExternalPort: 5300, InternalAddr: third})
		m := mustMap(t, c, Request{InternalPort: 5300, InternalAddr: gatewaytest.OtherHost})
		if p := m.External().Port(); p == 5300 || p == 0 || m.Internal().Addr() != gatewaytest.OtherHost {
			t.Fatalf("mapped %v -> %v", m.External(), m.Internal())
		}
	})
	t.Run("secure mode", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{IGDVersion: 1, SecureMode: true}, UPnP)
		gw.AddMapping(gatewaytest.Mapping{ExternalPort: 5301, InternalAddr: third})
		_, err := c.Map(context.Background(), Request{InternalPort: 5301, InternalAddr: gatewaytest.OtherHost, ExactPort: true})
		if !errors.Is(err, ErrPortInUse) || errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("err %v: want ErrPortInUse (the port is another host's)", err)
		}
	})
}

// TestGatewayRefusalNotTimeout: a UPnP-only router whose UDP 5351 drops
// everything, in secure mode, asked for another host: UPnP's definite
// refusal is the error, not a timeout because PCP and NAT-PMP were silent
// (issue 19, item 1).
func TestGatewayRefusalNotTimeout(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{SecureMode: true, IGDVersion: 1})
	// UPnP must answer within the budget on a loaded machine, while the
	// silent PCP and NAT-PMP cost it in wall time (this test waits it out
	// twice): a second balances the two.
	c.ProbeTimeout = time.Second
	gw.SetSilent(gatewaytest.PCP, true)
	gw.SetSilent(gatewaytest.NATPMP, true)
	_, err := c.Map(context.Background(), Request{InternalPort: 22100, InternalAddr: gatewaytest.OtherHost})
	if !errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrNoGateway) {
		t.Fatalf("err %v: want ErrNotAuthorized, not ErrTimeout nor ErrNoGateway", err)
	}
	if !strings.Contains(err.Error(), "pcp") {
		t.Errorf("the message no longer names the silent methods: %v", err)
	}
}
