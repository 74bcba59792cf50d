package gatewaytest

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRequireZeroLease(t *testing.T) {
	// IGD:2: a lease is refused, lease 0 is granted as a week that runs out.
	clk := newFakeClock()
	g := New(t, Config{RequireZeroLease: true, Now: clk.Now})
	mustFault(t, "lease 3600", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "", "x", 3600)}.do(t, g), 725)
	if n := len(g.Mappings()); n != 0 {
		t.Fatalf("refused lease left %d entries", n)
	}
	mustOK(t, "lease 0", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(80, "TCP", 80, "", "x", 0)}.do(t, g))
	m := only(t, g)
	if m.Lifetime != maxLeaseV2 || !m.Expires.Equal(clk.Now().Add(maxLeaseV2)) {
		t.Fatalf("IGD:2 lease 0: %+v, want a week from now", m)
	}
	out := mustOK(t, "read back", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(80, "TCP")}.do(t, g))
	if out["NewLeaseDuration"] != "604800" {
		t.Fatalf("read-back lease %q, want 604800", out["NewLeaseDuration"])
	}
	clk.Advance(maxLeaseV2)
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("entry outlived its week: %+v", ms)
	}

	// IGD:1: lease 0 is permanent, as with PermanentOnly.
	g1 := New(t, Config{IGDVersion: 1, RequireZeroLease: true})
	mustFault(t, "v1 lease 3600", soapCall{svc: wanip1, action: "AddPortMapping", args: addArgs(81, "TCP", 81, "", "x", 3600)}.do(t, g1), 725)
	mustOK(t, "v1 lease 0", soapCall{svc: wanip1, action: "AddPortMapping", args: addArgs(81, "TCP", 81, "", "x", 0)}.do(t, g1))
	if m := only(t, g1); m.Lifetime != 0 || !m.Expires.IsZero() {
		t.Fatalf("IGD:1 lease 0: %+v, want permanent", m)
	}
}

func TestKeepManualForwards(t *testing.T) {
	g := New(t, Config{KeepManualForwards: true})
	g.AddMapping(Mapping{Protocol: "TCP", ExternalPort: 443, InternalPort: 8443, Description: "manual"})
	mustOK(t, "add over a manual forward", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(443, "TCP", 443, "", "x", 60)}.do(t, g))
	m := only(t, g)
	if m.InternalAddr != OtherHost || m.InternalPort != 8443 || m.Method != Manual {
		t.Fatalf("manual forward replaced: %+v", m)
	}
	out := mustOK(t, "read back", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(443, "TCP")}.do(t, g))
	if out["NewInternalClient"] != OtherHost.String() || out["NewInternalPort"] != "8443" {
		t.Fatalf("read-back %v, want the manual forward", out)
	}
	// A free port is mapped as usual, and AddAnyPortMapping still moves.
	mustOK(t, "add free port", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(444, "TCP", 444, "", "x", 60)}.do(t, g))
	out = mustOK(t, "add any", soapCall{svc: wanip2, action: "AddAnyPortMapping", args: addArgs(443, "TCP", 443, "", "x", 60)}.do(t, g))
	if out["NewReservedPort"] != "445" {
		t.Fatalf("AddAnyPortMapping reserved %q, want 445", out["NewReservedPort"])
	}
	if n := len(g.Mappings()); n != 3 {
		t.Fatalf("table %+v", g.Mappings())
	}
}

func TestSSDPFromStatic(t *testing.T) {
	g := New(t, Config{})
	g.SetSSDPFromStatic(true)
	static := g.StaticAddr()
	if !static.IsLoopback() || static == g.Addr() {
		t.Fatalf("static address %v (gateway %v)", static, g.Addr())
	}
	// An unconnected socket, so that an answer from any address arrives.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort(msearch("upnp:rootdevice"), g.SSDPAddr()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if from != netip.AddrPortFrom(static, 1900) {
		t.Fatalf("answer from %v, want %v:1900", from, static)
	}
	var loc string
	for _, l := range strings.Split(string(buf[:n]), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "LOCATION") {
			loc = strings.TrimSpace(v)
		}
	}
	u, err := url.Parse(loc)
	if err != nil || u.Hostname() != static.String() || u.Port() != itoa(int(g.HTTPAddr().Port())) {
		t.Fatalf("LOCATION %q, want the static address and the HTTP port", loc)
	}
	// Turned off, the gateway answers from its own address again.
	g.SetSSDPFromStatic(false)
	if h := ssdpAnswers(t, g, msearch("upnp:rootdevice"), 2*time.Second); len(h) != 1 || h[0]["LOCATION"] != g.LocationURL() {
		t.Fatalf("answers after reset: %v", h)
	}
}
