package upnpmap

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Host addresses as /proc/net/if_inet6 would give them: a temporary and a
// unique-local address before the stable one, which must be the one opened.
var (
	tempAddr = netip.MustParseAddr("2001:db8:77::beef")
	ulaAddr  = netip.MustParseAddr("fd00::20")
)

// hostList is an injectable, changeable list of host addresses that counts
// its reads.
type hostList struct {
	mu    sync.Mutex
	addrs []hostAddr
	reads atomic.Int32
}

func (h *hostList) set(stable netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addrs = []hostAddr{{addr: tempAddr, temporary: true}, {addr: ulaAddr}}
	if stable.IsValid() {
		h.addrs = append(h.addrs, hostAddr{addr: stable})
	}
}

func (h *hostList) list() ([]hostAddr, error) {
	h.reads.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hostAddr(nil), h.addrs...), nil
}

// how a test's Client reaches the fake's IPv6 side.
const (
	viaPCP  = 1 << iota // the PCP server on [::1]
	viaUPnP             // the IPv6 description URL
)

// dualGateway is testGateway with the fake's IPv6 side on and the Client
// pointed at it (via says which), the host's stable address being the
// fake's IPv6Host.
func dualGateway(t testing.TB, cfg gatewaytest.Config, via int, methods ...Method) (*gatewaytest.Gateway, *Client, *hostList) {
	t.Helper()
	cfg.IPv6 = true
	gw, c := testGateway(t, cfg, methods...)
	setDual(c, gw, via)
	h := &hostList{}
	h.set(gatewaytest.DefaultIPv6Host)
	c.hostAddrs = h.list
	return gw, c, h
}

func setDual(c *Client, gw *gatewaytest.Gateway, via int) {
	if via&viaPCP != 0 {
		c.pcp6Server = gw.PCPAddr6()
	}
	if via&viaUPnP != 0 {
		c.Location6 = gw.LocationURL6()
	}
}

var host6 = gatewaytest.DefaultIPv6Host

func TestDualStackBothFamiliesPCP(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaPCP, PCP)
	m := mustMap(t, c, Request{InternalPort: 5000})
	if m.Family() != IPv4 || m.OtherFamilyErr() != nil {
		t.Fatalf("Map gave family %v, other family error %v", m.Family(), m.OtherFamilyErr())
	}
	p := m.Pinhole()
	if p == nil {
		t.Fatal("no pinhole")
	}
	if p.Family() != IPv6 || p.Method() != PCP || p.External() != netip.AddrPortFrom(host6, 5000) || p.Internal() != p.External() {
		t.Fatalf("pinhole %v via %v, family %v", p.External(), p.Method(), p.Family())
	}
	if _, ok := entry(gw, "TCP", m.External().Port()); !ok {
		t.Errorf("no IPv4 entry on the gateway: %+v", gw.Mappings())
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].Method != gatewaytest.PCP || ps[0].InternalClient != host6 || ps[0].InternalPort != 5000 || ps[0].Nonce != p.Nonce() {
		t.Fatalf("gateway pinholes %+v", ps)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n, k := len(gw.Pinholes()), ipv4Entries(gw); n != 0 || k != 0 {
		t.Errorf("after Close: %d pinholes, %d mappings", n, k)
	}
	if _, ok := <-p.Events(); ok {
		t.Error("the pinhole's events are still open after Close")
	}
}

func TestDualStackUPnPPinholeFromStableAddress(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{PinholeStrict: true}, viaUPnP, UPnP)
	m := mustMap(t, c, Request{Protocol: UDP, InternalPort: 5001})
	p := m.Pinhole()
	if p == nil {
		t.Fatalf("no pinhole: %v", m.OtherFamilyErr())
	}
	if p.Method() != UPnP || p.Location() != gw.LocationURL6() {
		t.Errorf("pinhole via %v at %q", p.Method(), p.Location())
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].Method != gatewaytest.UPnP || ps[0].InternalClient != host6 || ps[0].Protocol != "UDP" {
		t.Fatalf("gateway pinholes %+v (want one for %v, not the temporary %v or the ULA %v)", ps, host6, tempAddr, ulaAddr)
	}
	if n := gw.Requests("GetFirewallStatus"); n != 1 {
		t.Errorf("GetFirewallStatus sent %d times, want once before AddPinhole", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(gw.Pinholes()); n != 0 {
		t.Errorf("%d pinholes after Close", n)
	}
}

// PCP first: a router whose PCP refuses IPv6 gets the pinhole over UPnP.
func TestDualStackPCPThenUPnP(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{PCPv6Unsupported: true}, viaPCP|viaUPnP, UPnP)
	m := mustMap(t, c, Request{InternalPort: 5002})
	p := m.Pinhole()
	if p == nil || p.Method() != UPnP {
		t.Fatalf("pinhole %v: %v", p, m.OtherFamilyErr())
	}
	if n := gw.Requests("AddPinhole"); n != 1 {
		t.Errorf("AddPinhole sent %d times", n)
	}
}

func TestDualStackPartialSuccess(t *testing.T) {
	cases := []struct {
		name string
		cfg  gatewaytest.Config
		want error
	}{
		{"inbound pinholes not allowed", gatewaytest.Config{InboundPinholesDisallowed: true}, ErrNotAuthorized},
		{"firewall disabled", gatewaytest.Config{FirewallDisabled: true}, ErrNoPinholeNeeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw, c, _ := dualGateway(t, tc.cfg, viaUPnP, UPnP)
			m, err := c.Map(t.Context(), Request{InternalPort: 5003})
			if err != nil {
				t.Fatalf("Map failed as a whole: %v", err)
			}
			defer m.Close()
			if m.Family() != IPv4 || m.Pinhole() != nil {
				t.Fatalf("family %v, pinhole %v", m.Family(), m.Pinhole())
			}
			if err := m.OtherFamilyErr(); !errors.Is(err, tc.want) {
				t.Errorf("IPv6 error %v, want %v", err, tc.want)
			}
			if _, ok := entry(gw, "TCP", m.External().Port()); !ok {
				t.Error("no IPv4 entry")
			}
			if n := gw.Requests("AddPinhole"); n != 0 {
				t.Errorf("AddPinhole sent %d times after GetFirewallStatus said no", n)
			}
		})
	}
}

// IPv4 refused, the pinhole opened: success, the Mapping is the pinhole.
func TestDualStackIPv4FailsIPv6Opens(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	gw.FailAction("AddPortMapping", 606)
	gw.FailAction("AddAnyPortMapping", 606)
	m, err := c.Map(t.Context(), Request{InternalPort: 5004})
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	defer m.Close()
	if m.Family() != IPv6 || m.External() != netip.AddrPortFrom(host6, 5004) {
		t.Fatalf("got %v %v", m.Family(), m.External())
	}
	if err := m.OtherFamilyErr(); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("IPv4 error %v, want ErrNotAuthorized", err)
	}
	if n := ipv4Entries(gw); n != 0 {
		t.Errorf("%d IPv4 mappings", n)
	}
}

func TestDualStackBothFail(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{InboundPinholesDisallowed: true}, viaUPnP, UPnP)
	gw.FailAction("AddPortMapping", 606)
	gw.FailAction("AddAnyPortMapping", 606)
	m, err := c.Map(t.Context(), Request{InternalPort: 5005})
	if err == nil {
		m.Close()
		t.Fatal("Map succeeded")
	}
	if !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("error %v does not wrap ErrNotAuthorized", err)
	}
}

func TestDualStackFamilyRestricts(t *testing.T) {
	t.Run("ipv4", func(t *testing.T) {
		gw, c, h := dualGateway(t, gatewaytest.Config{}, viaPCP|viaUPnP, PCP)
		m := mustMap(t, c, Request{InternalPort: 5006, Family: IPv4})
		if m.Pinhole() != nil || len(gw.Pinholes()) != 0 || h.reads.Load() != 0 {
			t.Errorf("IPv4 only: pinhole %v, gateway pinholes %v, host addresses read %d times", m.Pinhole(), gw.Pinholes(), h.reads.Load())
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaPCP, PCP)
		m := mustMap(t, c, Request{InternalPort: 5007, Family: IPv6})
		if m.Family() != IPv6 || m.Pinhole() != nil || m.OtherFamilyErr() != nil {
			t.Errorf("IPv6 only: family %v, pinhole %v, err %v", m.Family(), m.Pinhole(), m.OtherFamilyErr())
		}
		if n, k := len(gw.Pinholes()), ipv4Entries(gw); n != 1 || k != 0 {
			t.Errorf("%d pinholes, %d IPv4 mappings", n, k)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, c, _ := dualGateway(t, gatewaytest.Config{}, viaPCP, PCP)
		if _, err := c.Map(t.Context(), Request{InternalPort: 5008, Family: 5}); !errors.Is(err, ErrInvalidArgs) {
			t.Errorf("Family 5: %v", err)
		}
	})
}

// A host without a stable global IPv6 address maps IPv4 only and asks the
// IPv6 side nothing.
func TestDualStackNoStableAddress(t *testing.T) {
	gw, c, h := dualGateway(t, gatewaytest.Config{}, viaPCP|viaUPnP, PCP)
	h.set(netip.Addr{}) // only the temporary and the ULA
	m := mustMap(t, c, Request{InternalPort: 5009})
	if m.Pinhole() != nil || m.OtherFamilyErr() != nil {
		t.Errorf("pinhole %v, err %v", m.Pinhole(), m.OtherFamilyErr())
	}
	if n := gw.Requests("GetFirewallStatus") + len(gw.Pinholes()); n != 0 {
		t.Errorf("IPv6 side asked: %d", n)
	}
	if _, err := c.Map(t.Context(), Request{InternalPort: 5010, Family: IPv6}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("IPv6 only without an address: %v", err)
	}
}

// The pinhole is renewed by re-sending AddPinhole before its lease ends,
// and removed by Close.
func TestDualStackPinholeRenewAndClose(t *testing.T) {
	gw, c, fc := sharedClock(t, gatewaytest.Config{IPv6: true}, UPnP)
	setDual(c, gw, viaUPnP)
	h := &hostList{}
	h.set(host6)
	c.hostAddrs = h.list
	m := mustMap(t, c, Request{InternalPort: 5011, Lifetime: time.Minute, Family: IPv6})
	if m.Lifetime() != time.Minute {
		t.Fatalf("lease %v", m.Lifetime())
	}
	for i := 0; i < 2; i++ {
		at := fc.Next(t, time.Hour)
		if !at.Before(m.Expires()) {
			t.Fatalf("renewal %d at or after expiry", i)
		}
		fc.AdvanceTo(at)
		wantEvents(t, m, Renewed)
	}
	if n := gw.Requests("AddPinhole"); n != 3 {
		t.Errorf("AddPinhole sent %d times, want 3 (create, 2 renewals)", n)
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || !ps[0].Expires.After(fc.Now()) {
		t.Fatalf("pinholes after renewals %+v", ps)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := gw.Requests("DeletePinhole"); n != 1 {
		t.Errorf("DeletePinhole sent %d times", n)
	}
	if n := len(gw.Pinholes()); n != 0 {
		t.Errorf("%d pinholes after Close", n)
	}
}

// A new prefix: the pinhole is re-opened for the new address, the old one
// removed, and the change is an event.
func TestDualStackPrefixChange(t *testing.T) {
	// UPnP only: the fake takes every PCP request from ::1 for its one
	// IPv6Host, so a PCP pinhole cannot follow a renumbering there.
	gw, c, h := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	c.PollInterval = 10 * time.Millisecond
	m := mustMap(t, c, Request{InternalPort: 5012, Family: IPv6})
	renumbered := netip.MustParseAddr("2001:db8:99::20")
	h.set(renumbered)
	lost := waitFor(t, m, Lost)
	if !errors.Is(lost.Err, errPrefixChanged) {
		t.Errorf("Lost because %v", lost.Err)
	}
	ev := waitFor(t, m, ExternalAddressChanged)
	if ev.External != netip.AddrPortFrom(renumbered, 5012) || m.Internal() != ev.External {
		t.Errorf("event %v; Internal %v", ev, m.Internal())
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].InternalClient != renumbered {
		t.Errorf("gateway pinholes %+v (the old one removed, the new one open)", ps)
	}
}

// ipv4Entries counts the gateway's IPv4 mappings (its table also holds
// the PCP pinholes).
func ipv4Entries(gw *gatewaytest.Gateway) int {
	n := 0
	for _, e := range gw.Mappings() {
		if e.InternalAddr.Is4() {
			n++
		}
	}
	return n
}

// A detached pinhole is removed later by Client.Delete from its
// DeleteRequest, by another Client (another process).
func TestDualStackDeleteDetachedPinhole(t *testing.T) {
	for _, via := range []int{viaUPnP, viaPCP} {
		t.Run(map[int]string{viaUPnP: "upnp", viaPCP: "pcp"}[via], func(t *testing.T) {
			gw, c, h := dualGateway(t, gatewaytest.Config{}, via, UPnP)
			m := mustMap(t, c, Request{InternalPort: 5013})
			p := m.Pinhole()
			if p == nil {
				t.Fatalf("no pinhole: %v", m.OtherFamilyErr())
			}
			d4, d6 := m.DeleteRequest(), p.DeleteRequest()
			m.Detach()
			if d6.InternalAddr != host6 || (via == viaUPnP && d6.PinholeID == 0) {
				t.Fatalf("pinhole DeleteRequest %+v", d6)
			}
			c2 := &Client{Gateway: c.Gateway, Methods: c.Methods, ProbeTimeout: c.ProbeTimeout, hostAddrs: h.list}
			setDual(c2, gw, via)
			if err := c2.Delete(t.Context(), d6); err != nil {
				t.Fatalf("delete pinhole: %v", err)
			}
			if n := len(gw.Pinholes()); n != 0 {
				t.Errorf("%d pinholes after Delete", n)
			}
			if n := ipv4Entries(gw); n != 1 {
				t.Errorf("%d IPv4 entries; the pinhole's delete must leave the IPv4 mapping", n)
			}
			if err := c2.Delete(t.Context(), d4); err != nil {
				t.Fatalf("delete IPv4: %v", err)
			}
			if n := ipv4Entries(gw); n != 0 {
				t.Errorf("%d IPv4 entries after Delete", n)
			}
		})
	}
}

// OPNsense refuses a PCP pinhole's renewal with NO_RESOURCES: the pinhole
// is withdrawn and opened afresh, and stays one pinhole.
func TestDualStackPCPRenewNoResources(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{PCPv6RenewNoResources: true}, viaPCP, PCP)
	m := mustMap(t, c, Request{InternalPort: 5014, Lifetime: 2 * time.Second, Family: IPv6})
	first := m.Nonce()
	wantEvents(t, m, Renewed) // at about 1 s
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].Nonce != m.Nonce() || m.Nonce() == first {
		t.Fatalf("pinholes %+v; nonce %x (first %x)", ps, m.Nonce(), first)
	}
}

// A gateway that refuses DeletePinhole (606) still lets Close remove the
// pinhole (UpdatePinhole to a 1 s lease, miniupnp #600).
func TestDualStackClosePinholeDelete606(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{DeletePinhole606: true}, viaUPnP, UPnP)
	m := mustMap(t, c, Request{InternalPort: 5015, Family: IPv6})
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := gw.Requests("UpdatePinhole"); n != 1 {
		t.Errorf("UpdatePinhole sent %d times, want the one fallback", n)
	}
	for _, p := range gw.Pinholes() {
		if p.Lease > time.Second {
			t.Errorf("pinhole left open after Close: %+v", p)
		}
	}
}
