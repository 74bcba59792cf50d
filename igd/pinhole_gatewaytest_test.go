package igd_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// The firewall (pinhole) actions against gatewaytest. On loopback the
// requests come from ::1, which the gateway takes for its Config.IPv6Host;
// the pinholes therefore name that address as InternalClient.

// firewallFor fetches the description at location and returns a Client for
// its WANIPv6FirewallControl:1 service, or nil when it lists none.
func firewallFor(t *testing.T, location string) *igd.Client {
	t.Helper()
	loc, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Device descDevice `xml:"device"`
	}
	if err := xml.Unmarshal(body, &root); err != nil {
		t.Fatal(err)
	}
	var ctl string
	var walk func(d descDevice)
	walk = func(d descDevice) {
		for _, s := range d.Services {
			if s.ServiceType == igd.ServiceWANIPv6Firewall1 {
				ctl = s.ControlURL
			}
		}
		for _, c := range d.Devices {
			walk(c)
		}
	}
	walk(root.Device)
	if ctl == "" {
		return nil
	}
	u, err := loc.Parse(ctl)
	if err != nil {
		t.Fatal(err)
	}
	return &igd.Client{ControlURL: u, ServiceType: igd.ServiceWANIPv6Firewall1, Timeout: 2 * time.Second}
}

// pinhole6 is a TCP pinhole for the gateway's default IPv6 host.
func pinhole6(port uint16, lease time.Duration) igd.Pinhole {
	return igd.Pinhole{InternalClient: gatewaytest.DefaultIPv6Host, InternalPort: port, Protocol: igd.TCP, LeaseTime: lease}
}

func TestGatewayPinholeLifecycle(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, PinholeStrict: true})
	c := firewallFor(t, gw.LocationURL6())
	if c == nil {
		t.Fatal("the IGD:2 description lists no WANIPv6FirewallControl:1")
	}
	ctx := t.Context()
	st, err := c.GetFirewallStatus(ctx)
	if err != nil || !st.CanOpenPinholes() {
		t.Fatalf("GetFirewallStatus = %+v, %v", st, err)
	}
	if d, err := c.GetOutboundPinholeTimeout(ctx, igd.Pinhole{}); err != nil || d != gatewaytest.OutboundPinholeTimeout {
		t.Errorf("GetOutboundPinholeTimeout = %v, %v", d, err)
	}
	id, err := c.AddPinhole(ctx, pinhole6(8080, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AddPinhole(ctx, pinhole6(8080, 2*time.Hour))
	if err != nil || again != id {
		t.Errorf("the same pinhole again: id %d, %v; first %d", again, err, id)
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].UniqueID != id || ps[0].InternalPort != 8080 || ps[0].Lease != 2*time.Hour || ps[0].Method != gatewaytest.UPnP {
		t.Fatalf("gateway holds %+v", ps)
	}
	if err := c.UpdatePinhole(ctx, id, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ps := gw.Pinholes(); len(ps) != 1 || ps[0].Lease != time.Minute {
		t.Errorf("after UpdatePinhole %+v", ps)
	}
	if n, err := c.GetPinholePackets(ctx, id); err != nil || n != 0 {
		t.Errorf("GetPinholePackets = %d, %v", n, err)
	}
	if ok, err := c.CheckPinholeWorking(ctx, id); ok || !errors.Is(err, igd.ErrNoTrafficReceived) {
		t.Errorf("CheckPinholeWorking = %v, %v; want ErrNoTrafficReceived", ok, err)
	}
	if err := c.DeletePinhole(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Fatalf("after DeletePinhole %+v", ps)
	}
	for name, err := range map[string]error{
		"DeletePinhole": c.DeletePinhole(ctx, id),
		"UpdatePinhole": c.UpdatePinhole(ctx, id, time.Minute),
		"RemovePinhole": c.RemovePinhole(ctx, id),
	} {
		if !igd.IsPinholeGone(err) {
			t.Errorf("%s of a deleted pinhole: %v, want IsPinholeGone", name, err)
		}
	}
}

func TestGatewayPinholeStrict(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, PinholeStrict: true})
	ctx := t.Context()
	c := firewallFor(t, gw.LocationURL6())
	other := pinhole6(8080, time.Minute)
	other.InternalClient = netip.MustParseAddr("2001:db8:77::99")
	for name, p := range map[string]igd.Pinhole{"another host": other, "port below 1024": pinhole6(443, time.Minute)} {
		if _, err := c.AddPinhole(ctx, p); !errors.Is(err, igd.ErrNotAuthorized) {
			t.Errorf("%s: %v, want ErrNotAuthorized (606)", name, err)
		}
	}
	v4 := firewallFor(t, gw.LocationURL())
	if _, err := v4.AddPinhole(ctx, pinhole6(8080, time.Minute)); !errors.Is(err, igd.ErrNotAuthorized) {
		t.Errorf("over the IPv4 URL: %v, want ErrNotAuthorized (606)", err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Errorf("refused requests opened %+v", ps)
	}
}

func TestGatewayFirewallKnobs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gatewaytest.Config
		want error
	}{
		{"firewall disabled", gatewaytest.Config{FirewallDisabled: true}, igd.ErrFirewallDisabled},
		{"inbound pinholes disallowed", gatewaytest.Config{InboundPinholesDisallowed: true}, igd.ErrInboundPinholeNotAllowed},
		{"pinhole space exhausted", gatewaytest.Config{MaxPinholes: 1}, igd.ErrPinholeSpaceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.IPv6 = true
			gw := gatewaytest.New(t, tc.cfg)
			c := firewallFor(t, gw.LocationURL6())
			st, err := c.GetFirewallStatus(t.Context())
			if err != nil || st.CanOpenPinholes() != (tc.want == igd.ErrPinholeSpaceExhausted) {
				t.Errorf("GetFirewallStatus = %+v, %v", st, err)
			}
			if tc.want == igd.ErrPinholeSpaceExhausted {
				if _, err := c.AddPinhole(t.Context(), pinhole6(9000, time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.AddPinhole(t.Context(), pinhole6(8080, time.Minute)); !errors.Is(err, tc.want) {
				t.Errorf("AddPinhole: %v, want %v", err, tc.want)
			}
		})
	}
}

// miniupnpd answers 402 for a UniqueID it no longer holds; IsPinholeGone
// reads it as gone.
func TestGatewayPinholeGoneAs402(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, PinholeGoneAs402: true})
	c := firewallFor(t, gw.LocationURL6())
	err := c.UpdatePinhole(t.Context(), 4321, time.Minute)
	if !errors.Is(err, igd.ErrInvalidArgs) || !igd.IsPinholeGone(err) {
		t.Errorf("UpdatePinhole of an unknown id: %v, want a 402 that IsPinholeGone accepts", err)
	}
}

// A gateway that refuses DeletePinhole with 606 still lets RemovePinhole
// close the pinhole, by a one-second lease.
func TestGatewayRemovePinholeWorkaround(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, DeletePinhole606: true, Now: clock})
	c := firewallFor(t, gw.LocationURL6())
	id, err := c.AddPinhole(t.Context(), pinhole6(8080, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePinhole(t.Context(), id); !errors.Is(err, igd.ErrNotAuthorized) {
		t.Fatalf("DeletePinhole: %v, want the 606", err)
	}
	if err := c.RemovePinhole(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if ps := gw.Pinholes(); len(ps) != 1 || ps[0].Lease != igd.MinPinholeLease {
		t.Fatalf("after RemovePinhole %+v, want the pinhole on a %v lease", ps, igd.MinPinholeLease)
	}
	mu.Lock()
	now = now.Add(igd.MinPinholeLease)
	mu.Unlock()
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Errorf("pinhole outlived its last lease: %+v", ps)
	}
}

// Without IGD:2 the description lists no firewall service, and a client
// that sends to one anyway gets 401 (ErrUnsupported).
func TestGatewayNoIGD2Firewall(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, IGDVersion: 1})
	if c := firewallFor(t, gw.LocationURL6()); c != nil {
		t.Fatalf("IGD:1 lists the firewall at %v", c.ControlURL)
	}
	u, _ := url.Parse(gw.LocationURL6())
	u, _ = u.Parse("/ctl/IP6FCtl") // miniupnpd's URL, where IGD:2 would serve it
	c := &igd.Client{ControlURL: u, ServiceType: igd.ServiceWANIPv6Firewall1, Timeout: 2 * time.Second}
	if _, err := c.GetFirewallStatus(t.Context()); !errors.Is(err, igd.ErrUnsupported) {
		t.Errorf("GetFirewallStatus: %v, want ErrUnsupported (401)", err)
	}
}

// The codes the client refuses to provoke (it checks its arguments before
// sending) still map to their sentinels when a gateway answers them.
func TestGatewayPinholeInjectedCodes(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	c := firewallFor(t, gw.LocationURL6())
	for code, want := range map[int]error{
		705: igd.ErrProtocolNotSupported,
		706: igd.ErrWildcardNotPermittedInIntPort,
		707: igd.ErrProtocolWildcardNotAllowed,
		708: igd.ErrWildcardNotPermittedInSrcIP,
	} {
		gw.FailAction("AddPinhole", code)
		if _, err := c.AddPinhole(t.Context(), pinhole6(8080, time.Minute)); !errors.Is(err, want) {
			t.Errorf("%d: %v, want %v", code, err, want)
		}
	}
}
