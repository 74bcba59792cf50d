package gatewaytest

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// WANIPv6FirewallControl:1 requests, hand-written from its service
// template.

const fw6 = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

var host6 = DefaultIPv6Host.String()

// addPinholeArgs are AddPinhole's six arguments with wildcard remote.
func addPinholeArgs(client string, port, proto, lease int) [][2]string {
	return [][2]string{
		{"RemoteHost", ""}, {"RemotePort", "0"}, {"InternalClient", client},
		{"InternalPort", itoa(port)}, {"Protocol", itoa(proto)}, {"LeaseTime", itoa(lease)},
	}
}

// fwCall is a firewall action sent over the [::1] URL.
func fwCall(action string, args ...[2]string) soapCall {
	return soapCall{svc: fw6, action: action, args: args, v6: true}
}

func idArg(id string) [2]string { return [2]string{"UniqueID", id} }

// addPinhole opens a TCP pinhole for IPv6Host and returns its UniqueID.
func addPinhole(t *testing.T, g *Gateway, port, lease int) string {
	t.Helper()
	out := mustOK(t, "AddPinhole", fwCall("AddPinhole", addPinholeArgs(host6, port, 6, lease)...).do(t, g))
	if out["UniqueID"] == "" || out["UniqueID"] == "0" {
		t.Fatalf("AddPinhole UniqueID %q", out["UniqueID"])
	}
	return out["UniqueID"]
}

func TestPinholeLifecycle(t *testing.T) {
	clock := newFakeClock()
	g := New(t, Config{IPv6: true, Now: clock.Now})
	id := addPinhole(t, g, 8080, 3600)

	ps := g.Pinholes()
	if len(ps) != 1 {
		t.Fatalf("Pinholes = %+v, want one", ps)
	}
	p := ps[0]
	if p.Method != UPnP || itoa(int(p.UniqueID)) != id || p.InternalClient != DefaultIPv6Host || p.InternalPort != 8080 ||
		p.Protocol != "TCP" || p.RemoteHost.IsValid() || p.RemotePort != 0 || p.Lease != time.Hour ||
		!p.Expires.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("pinhole %+v", p)
	}
	if len(g.Mappings()) != 0 {
		t.Errorf("a UPnP pinhole showed up in Mappings: %+v", g.Mappings())
	}

	// The same five-tuple again: the same UniqueID, a new lease.
	clock.Advance(10 * time.Minute)
	out := mustOK(t, "AddPinhole again", fwCall("AddPinhole", addPinholeArgs(host6, 8080, 6, 7200)...).do(t, g))
	if out["UniqueID"] != id {
		t.Errorf("same pinhole got UniqueID %s, first %s", out["UniqueID"], id)
	}
	if ps := g.Pinholes(); len(ps) != 1 || !ps[0].Expires.Equal(clock.Now().Add(2*time.Hour)) {
		t.Errorf("after renewal %+v", ps)
	}
	// Another protocol is another pinhole.
	out = mustOK(t, "AddPinhole UDP", fwCall("AddPinhole", addPinholeArgs(host6, 8080, 17, 60)...).do(t, g))
	if out["UniqueID"] == id {
		t.Errorf("a UDP pinhole reused UniqueID %s", id)
	}

	mustOK(t, "UpdatePinhole", fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "30"}).do(t, g))
	if ps := g.Pinholes(); ps[0].Lease != 30*time.Second || !ps[0].Expires.Equal(clock.Now().Add(30*time.Second)) {
		t.Errorf("after UpdatePinhole %+v", ps[0])
	}
	if out := mustOK(t, "GetPinholePackets", fwCall("GetPinholePackets", idArg(id)).do(t, g)); out["PinholePackets"] != "0" {
		t.Errorf("PinholePackets = %q", out["PinholePackets"])
	}
	mustFault(t, "CheckPinholeWorking", fwCall("CheckPinholeWorking", idArg(id)).do(t, g), 709)

	mustOK(t, "DeletePinhole", fwCall("DeletePinhole", idArg(id)).do(t, g))
	if ps := g.Pinholes(); len(ps) != 1 || ps[0].Protocol != "UDP" {
		t.Errorf("after DeletePinhole %+v", ps)
	}
	for _, action := range []string{"DeletePinhole", "GetPinholePackets", "CheckPinholeWorking"} {
		mustFault(t, action+" of a deleted pinhole", fwCall(action, idArg(id)).do(t, g), 704)
	}
	mustFault(t, "UpdatePinhole of a deleted pinhole", fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "30"}).do(t, g), 704)

	// Leases run out.
	clock.Advance(61 * time.Second)
	if ps := g.Pinholes(); len(ps) != 0 {
		t.Errorf("expired pinholes still listed: %+v", ps)
	}
}

func TestPinholeErrors(t *testing.T) {
	g := New(t, Config{IPv6: true})
	for _, tc := range []struct {
		name string
		args [][2]string
		code int
	}{
		{"lease 0", addPinholeArgs(host6, 8080, 6, 0), 402},
		{"lease over a day", addPinholeArgs(host6, 8080, 6, 86401), 402},
		{"protocol wildcard", addPinholeArgs(host6, 8080, 65535, 60), 707},
		{"ICMP", addPinholeArgs(host6, 8080, 1, 60), 705},
		{"internal port 0", addPinholeArgs(host6, 0, 6, 60), 706},
		{"no internal client", addPinholeArgs("", 8080, 6, 60), 708},
		{"wildcard internal client", addPinholeArgs("*", 8080, 6, 60), 708},
		{"IPv4 internal client", addPinholeArgs("192.168.1.20", 8080, 6, 60), 402},
		{"zoned internal client", addPinholeArgs("fe80::1%eth0", 8080, 6, 60), 402},
		{"port out of range", addPinholeArgs(host6, 70000, 6, 60), 402},
		{"missing LeaseTime", addPinholeArgs(host6, 8080, 6, 60)[:5], 402},
		{"IPv4 remote host", append([][2]string{{"RemoteHost", "198.51.100.1"}}, addPinholeArgs(host6, 8080, 6, 60)[1:]...), 402},
	} {
		mustFault(t, tc.name, fwCall("AddPinhole", tc.args...).do(t, g), tc.code)
	}
	mustFault(t, "UpdatePinhole with lease 0", fwCall("UpdatePinhole", idArg(addPinhole(t, g, 9000, 60)), [2]string{"NewLeaseTime", "0"}).do(t, g), 402)
	mustFault(t, "UniqueID not a number", fwCall("DeletePinhole", idArg("x")).do(t, g), 402)
	if ps := g.Pinholes(); len(ps) != 1 {
		t.Errorf("refused requests left pinholes: %+v", ps)
	}
	// The faults carry the service's names for its codes.
	r := fwCall("AddPinhole", addPinholeArgs("*", 8080, 6, 60)...).do(t, g)
	if r.out["errorDescription"] != "WildCardNotPermittedInSrcIP" {
		t.Errorf("708 described as %q", r.out["errorDescription"])
	}
}

func TestPinholeRemoteHost(t *testing.T) {
	g := New(t, Config{IPv6: true})
	args := addPinholeArgs(host6, 8080, 17, 60)
	args[0][1], args[1][1] = "2001:db8:99::1", "4000"
	mustOK(t, "AddPinhole", fwCall("AddPinhole", args...).do(t, g))
	ps := g.Pinholes()
	if len(ps) != 1 || ps[0].RemoteHost != netip.MustParseAddr("2001:db8:99::1") || ps[0].RemotePort != 4000 {
		t.Fatalf("Pinholes = %+v", ps)
	}
}

func TestPinholeSpaceExhausted(t *testing.T) {
	g := New(t, Config{IPv6: true, MaxPinholes: 2})
	addPinhole(t, g, 8080, 60)
	// A PCP pinhole counts against the same bound.
	c := dialFrom(t, netip.Addr{}, g.PCPAddr6())
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 9090}.bytes())); r.result != PCPSuccess {
		t.Fatalf("PCP MAP: %+v", r)
	}
	mustFault(t, "third pinhole", fwCall("AddPinhole", addPinholeArgs(host6, 8081, 6, 60)...).do(t, g), 701)
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(2), proto: 6, internal: 9091}.bytes())); r.result != PCPNoResources {
		t.Errorf("PCP MAP when full: result %d, want NO_RESOURCES", r.result)
	}
	// Renewing one that exists still works when full.
	mustOK(t, "renewal when full", fwCall("AddPinhole", addPinholeArgs(host6, 8080, 6, 60)...).do(t, g))
	if r := parsePCPResp(t, c.roundTrip(pcpReq{opcode: 1, lifetime: 600, client: c.local(), nonce: nonce(1), proto: 6, internal: 9090}.bytes())); r.result != PCPSuccess {
		t.Errorf("PCP renewal when full: result %d", r.result)
	}
}

func TestPinholeChanges(t *testing.T) {
	clock := newFakeClock()
	var got []Change
	g := New(t, Config{IPv6: true, Now: clock.Now, OnChange: func(c Change) { got = append(got, c) }})
	id := addPinhole(t, g, 8080, 60)
	mustOK(t, "UpdatePinhole", fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "30"}).do(t, g))
	clock.Advance(30 * time.Second)
	g.Pinholes()
	addPinhole(t, g, 8081, 60)
	g.Reboot()

	want := []struct {
		kind ChangeKind
		by   string
		port uint16
	}{{Added, UPnP, 8080}, {Renewed, UPnP, 8080}, {Removed, ByExpiry, 8080}, {Added, UPnP, 8081}, {Removed, ByReboot, 8081}}
	if len(got) != len(want) {
		t.Fatalf("changes %+v, want %d", got, len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.Kind != w.kind || c.By != w.by || c.PinholeID == 0 || c.Mapping.InternalPort != w.port ||
			c.Mapping.InternalAddr != DefaultIPv6Host || c.Mapping.ExternalAddr != DefaultIPv6Host || c.Mapping.Method != UPnP {
			t.Errorf("change %d = %+v, want %v by %s of port %d", i, c, w.kind, w.by, w.port)
		}
	}
	if itoa(int(got[0].PinholeID)) != id {
		t.Errorf("PinholeID %d, UniqueID %s", got[0].PinholeID, id)
	}
}

func TestPinholeReboot(t *testing.T) {
	g := New(t, Config{IPv6: true})
	id := addPinhole(t, g, 8080, 600)
	before := g.HTTPAddr6()
	g.Reboot()
	if len(g.Pinholes()) != 0 {
		t.Fatalf("pinholes survived a reboot: %+v", g.Pinholes())
	}
	if after := g.HTTPAddr6(); after == before || !after.Addr().Is6() {
		t.Errorf("[::1] HTTP %v after reboot, %v before: want a new port", after, before)
	}
	mustFault(t, "UpdatePinhole after reboot", fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "30"}).do(t, g), 704)
}

func TestFirewallStatus(t *testing.T) {
	for _, tc := range []struct {
		cfg              Config
		enabled, allowed string
		addCode          int
	}{
		{Config{}, "1", "1", 0},
		{Config{FirewallDisabled: true}, "0", "1", 702},
		{Config{InboundPinholesDisallowed: true}, "1", "0", 703},
	} {
		tc.cfg.IPv6 = true
		g := New(t, tc.cfg)
		out := mustOK(t, "GetFirewallStatus", fwCall("GetFirewallStatus").do(t, g))
		if out["FirewallEnabled"] != tc.enabled || out["InboundPinholeAllowed"] != tc.allowed {
			t.Errorf("%+v: status %v", tc.cfg, out)
		}
		r := fwCall("AddPinhole", addPinholeArgs(host6, 8080, 6, 60)...).do(t, g)
		if tc.addCode == 0 {
			mustOK(t, "AddPinhole", r)
			continue
		}
		mustFault(t, "AddPinhole", r, tc.addCode)
		mustFault(t, "DeletePinhole", fwCall("DeletePinhole", idArg("1")).do(t, g), tc.addCode)
		if len(g.Pinholes()) != 0 {
			t.Errorf("%+v: a refused AddPinhole opened %+v", tc.cfg, g.Pinholes())
		}
	}
}

func TestPinholeStrict(t *testing.T) {
	other := netip.MustParseAddr("2001:db8:77::99")
	g := New(t, Config{IPv6: true, PinholeStrict: true, IPv6Host: other})
	me := other.String()
	mustFault(t, "for another host", fwCall("AddPinhole", addPinholeArgs(host6, 8080, 6, 60)...).do(t, g), 606)
	mustFault(t, "port below 1024", fwCall("AddPinhole", addPinholeArgs(me, 443, 6, 60)...).do(t, g), 606)
	v4 := fwCall("AddPinhole", addPinholeArgs(me, 8080, 6, 60)...)
	v4.v6 = false
	mustFault(t, "over the IPv4 URL", v4.do(t, g), 606)
	id := mustOK(t, "own pinhole from ::1", fwCall("AddPinhole", addPinholeArgs(me, 8080, 6, 60)...).do(t, g))["UniqueID"]
	upd := fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "30"})
	upd.v6 = false
	mustFault(t, "UpdatePinhole over the IPv4 URL", upd.do(t, g), 606)
	mustOK(t, "DeletePinhole from ::1", fwCall("DeletePinhole", idArg(id)).do(t, g))

	// Without the knob the fake takes a pinhole for any host, over either URL.
	g = New(t, Config{IPv6: true})
	v4 = fwCall("AddPinhole", addPinholeArgs(me, 443, 6, 60)...)
	v4.v6 = false
	mustOK(t, "lenient over IPv4", v4.do(t, g))
}

func TestPinholeGoneAs402(t *testing.T) {
	g := New(t, Config{IPv6: true, PinholeGoneAs402: true})
	for _, action := range []string{"DeletePinhole", "GetPinholePackets", "CheckPinholeWorking"} {
		mustFault(t, action, fwCall(action, idArg("77")).do(t, g), 402)
	}
}

func TestDeletePinhole606(t *testing.T) {
	clock := newFakeClock()
	g := New(t, Config{IPv6: true, DeletePinhole606: true, Now: clock.Now})
	id := addPinhole(t, g, 8080, 3600)
	mustFault(t, "DeletePinhole", fwCall("DeletePinhole", idArg(id)).do(t, g), 606)
	// The workaround: a one-second lease.
	mustOK(t, "UpdatePinhole", fwCall("UpdatePinhole", idArg(id), [2]string{"NewLeaseTime", "1"}).do(t, g))
	clock.Advance(time.Second)
	if ps := g.Pinholes(); len(ps) != 0 {
		t.Errorf("pinhole left after its 1 s lease: %+v", ps)
	}
	mustFault(t, "DeletePinhole of a gone pinhole", fwCall("DeletePinhole", idArg(id)).do(t, g), 704)
}

func TestGetOutboundPinholeTimeout(t *testing.T) {
	g := New(t, Config{IPv6: true})
	args := addPinholeArgs("", 0, 65535, 1)[:5]
	out := mustOK(t, "GetOutboundPinholeTimeout", fwCall("GetOutboundPinholeTimeout", args...).do(t, g))
	if out["OutboundPinholeTimeout"] != itoa(int(OutboundPinholeTimeout/time.Second)) {
		t.Errorf("OutboundPinholeTimeout = %q", out["OutboundPinholeTimeout"])
	}
	mustFault(t, "without arguments", fwCall("GetOutboundPinholeTimeout").do(t, g), 402)
}

// Without IGD:2 there is no pinhole service: not in the description, and
// its actions get 401 wherever they are sent, as from miniupnpd built
// without IGD:2.
func TestNoIGD2NoFirewall(t *testing.T) {
	g := New(t, Config{IGDVersion: 1, IPv6: true})
	for _, s := range fetchDescription(t, g).Devices[0].Devices[0].Services {
		if strings.Contains(s.ServiceType, "Firewall") {
			t.Errorf("IGD:1 lists %s", s.ServiceType)
		}
	}
	mustFault(t, "to the firewall URL", fwCall("GetFirewallStatus").do(t, g), 401)
	mustFault(t, "to the connection URL", soapCall{svc: fw6, action: "GetFirewallStatus", path: "/ctl/IPConn"}.do(t, g), 401)
}

func TestHTTP6(t *testing.T) {
	g := New(t, Config{})
	if g.HTTPAddr6().IsValid() || g.LocationURL6() != "" {
		t.Fatalf("without IPv6: %v %q", g.HTTPAddr6(), g.LocationURL6())
	}
	g = New(t, Config{IPv6: true})
	u := g.LocationURL6()
	if !strings.HasPrefix(u, "http://[::1]:") || !strings.HasSuffix(u, "/rootDesc.xml") {
		t.Fatalf("LocationURL6 = %q", u)
	}
	resp, err := httpClient(t, netip.Addr{}, 2*time.Second).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), fw6) || !strings.Contains(string(body), "/ctl/IP6FCtl") {
		t.Errorf("description over [::1]: %d %s", resp.StatusCode, body)
	}
	// The SCPD lists the service's actions.
	resp, err = httpClient(t, netip.Addr{}, 2*time.Second).Get("http://" + g.HTTPAddr6().String() + "/WANIP6FC.xml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<name>AddPinhole</name>") {
		t.Errorf("SCPD: %s", body)
	}
	if g = New(t, Config{IPv6: true, DisableUPnP: true}); g.HTTPAddr6().IsValid() {
		t.Errorf("UPnP disabled, HTTPAddr6 = %v", g.HTTPAddr6())
	}
}

// Config.Miniupnpd brings miniupnpd's pinhole behaviour: its policy (606
// for another host) and 402 for a UniqueID it no longer holds.
func TestPinholeMiniupnpd(t *testing.T) {
	g := New(t, Config{IPv6: true, Miniupnpd: true})
	mustFault(t, "for another host", fwCall("AddPinhole", addPinholeArgs("2001:db8:77::99", 8080, 6, 60)...).do(t, g), 606)
	id := addPinhole(t, g, 8080, 60)
	mustOK(t, "DeletePinhole", fwCall("DeletePinhole", idArg(id)).do(t, g))
	mustFault(t, "DeletePinhole again", fwCall("DeletePinhole", idArg(id)).do(t, g), 402)
}
