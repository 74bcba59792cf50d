//go:build linux

package labtest

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestIPv6CLIAddBoth runs `upnpmap add PORT` in LAN1 of an IPv6 lab, with
// no family flag and no hidden IPv6 flag (the IPv6 router comes from the
// routing table, the address from the host's own): one command opens the
// IPv4 mapping and the IPv6 pinhole, and the WAN host reaches the LAN
// server over both; before, it reached neither; `upnpmap delete PORT`
// closes both. Then -6 opens the pinhole alone (no IPv4 forward) and -4
// the mapping alone (no pinhole rule).
func TestIPv6CLIAddBoth(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true})
	buildCLI(t)
	state := t.TempDir()
	lan1 := netlab.LAN1
	host6 := lab.Addr6(lan1)

	t.Run("both", func(t *testing.T) {
		const port = 21100
		v4, v6 := extAddr(lab, port), netip.AddrPortFrom(host6, port)
		startEcho(t, lab, lan1, "tcp", lanAddr(lab, lan1, port))
		startEcho(t, lab, lan1, "tcp", v6.String())
		wantClosed(t, ctx, lab, "tcp", v4)
		wantClosed(t, ctx, lab, "tcp", v6)

		// For people: one row per family.
		r := mustCLI(t, ctx, lab, lan1, state, "add", strconv.Itoa(port))
		wantOutput(t, "add", r.stdout, v4.String(), v6.String(), "upnpmap delete "+strconv.Itoa(port))
		if strings.Contains(r.stderr, "no IPv6 pinhole") {
			t.Fatalf("add warned of a missing pinhole:\n%s", r.stderr)
		}
		wantReachable(t, ctx, lab, "tcp", v4, lan1)
		wantReachable(t, ctx, lab, "tcp", v6, lan1)
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: port, Internal: parseAddrPort(t, "LAN1", lanAddr(lab, lan1, port))}, true)
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, true)

		// list shows the pinhole we made (from the state file).
		r = mustCLI(t, ctx, lab, lan1, state, "list", "--json")
		entries := jsonLines[cliEntry](t, "list --json", r.stdout)
		if e, ok := findEntry(entries, "tcp", v6.String()); !ok || e.Family != "ipv6" || !e.Ours {
			t.Fatalf("list --json: pinhole %v: %+v (found %v); want ours, family ipv6", v6, e, ok)
		}
		if _, ok := findEntry(entries, "tcp", v4.String()); !ok {
			t.Fatalf("list --json lacks the IPv4 mapping %v: %+v", v4, entries)
		}

		r = mustCLI(t, ctx, lab, lan1, state, "delete", strconv.Itoa(port))
		wantOutput(t, "delete", r.stdout, "deleted tcp port "+strconv.Itoa(port))
		wantClosed(t, ctx, lab, "tcp", v4)
		wantClosed(t, ctx, lab, "tcp", v6)
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: port, Internal: parseAddrPort(t, "LAN1", lanAddr(lab, lan1, port))}, false)
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, false)
	})

	t.Run("json", func(t *testing.T) {
		const port = 21102
		v4, v6 := extAddr(lab, port), netip.AddrPortFrom(host6, port)
		startEcho(t, lab, lan1, "udp", lanAddr(lab, lan1, port))
		startEcho(t, lab, lan1, "udp", v6.String())
		r := mustCLI(t, ctx, lab, lan1, state, "add", strconv.Itoa(port), "--udp", "--json")
		added := jsonLines[cliMapping](t, "add --json", r.stdout)
		if len(added) != 1 || added[0].External != v4.String() || added[0].Family != "" || added[0].OtherFamilyError != "" {
			t.Fatalf("add --json: %+v; want one IPv4 mapping %v with nothing missing", added, v4)
		}
		p := added[0].Pinhole
		if p == nil || p.Family != "ipv6" || p.Protocol != "udp" || p.External != v6.String() || p.Internal != v6.String() || p.Expires == nil {
			t.Fatalf("add --json: pinhole %+v; want udp %v -> %v, family ipv6, with an expiry", p, v6, v6)
		}
		t.Logf("pinhole by %s", p.Method)
		wantReachable(t, ctx, lab, "udp", v4, lan1)
		wantReachable(t, ctx, lab, "udp", v6, lan1)
		mustCLI(t, ctx, lab, lan1, state, "delete", strconv.Itoa(port), "--udp")
		wantClosed(t, ctx, lab, "udp", v4)
		wantClosed(t, ctx, lab, "udp", v6)
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "udp", Internal: v6}, false)
	})

	t.Run("-6 and -4", func(t *testing.T) {
		const port6, port4 = 21104, 21106
		v6 := netip.AddrPortFrom(host6, port6)
		startEcho(t, lab, lan1, "tcp", v6.String())
		r := mustCLI(t, ctx, lab, lan1, state, "add", strconv.Itoa(port6), "-6", "--json")
		added := jsonLines[cliMapping](t, "add -6 --json", r.stdout)
		if len(added) != 1 || added[0].Family != "ipv6" || added[0].External != v6.String() || added[0].Pinhole != nil {
			t.Fatalf("add -6 --json: %+v; want the pinhole %v alone", added, v6)
		}
		wantReachable(t, ctx, lab, "tcp", v6, lan1)
		wantNoForward(t, ctx, lab, port6)

		r = mustCLI(t, ctx, lab, lan1, state, "add", strconv.Itoa(port4), "-4", "--json")
		added = jsonLines[cliMapping](t, "add -4 --json", r.stdout)
		if len(added) != 1 || added[0].Family != "" || added[0].Pinhole != nil || added[0].OtherFamilyError != "" {
			t.Fatalf("add -4 --json: %+v; want the IPv4 mapping alone", added)
		}
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(host6, port4)}, false)

		mustCLI(t, ctx, lab, lan1, state, "delete", strconv.Itoa(port6))
		wantClosed(t, ctx, lab, "tcp", v6)
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, false)
		mustCLI(t, ctx, lab, lan1, state, "delete", strconv.Itoa(port4))
		wantNoForward(t, ctx, lab, port4)
	})
}

// TestIPv6MapBoth: the library's Client.Map with the default Request.Family,
// in LAN1 of an IPv6 lab (gateways from the routing table, nothing about
// IPv6 configured), opens the IPv4 mapping and the IPv6 pinhole; the WAN
// host reaches the server over both, the router holds the forward and the
// pinhole rule; Close removes both. Once with PCP (tried first), once on a
// router without NAT-PMP/PCP (enable_natpmp=no, and PCP over IPv6 refused
// with a port unreachable: miniupnpd 2.3.1 answers it even then, see
// TestIPv6PCPWithNATPMPOff), where the pinhole is made over UPnP at the
// IPv4 description's path on the router's IPv6 address. The requests over
// IPv6 are counted at the router (UDP for PCP, TCP for UPnP), which also
// shows that counter to work for TestIPv4OnlyNoPinhole.
//
// The "link-local router" cases give LAN1 the IPv6 default route most
// homes have (a router advertisement names the router's fe80:: address).
// Towards it the kernel would send from LAN1's link-local address, and
// miniupnpd then opens the pinhole for that address (PCP) or answers 606
// (UPnP): the pinhole opens the global address only because Map sends
// from it.
func TestIPv6MapBoth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		method   string // of the pinhole (and of the IPv4 mapping)
		opts     netlab.Options
		l4       string // of the pinhole requests
		port     uint16
		noPCP6   bool // refuse PCP over IPv6 at the router
		llRouter bool // LAN1's IPv6 default route via the router's link-local address
	}{
		{"pcp", "pcp", netlab.Options{IPv6: true}, "udp", 21110, false, false},
		{"upnp", "upnp", netlab.Options{IPv6: true, DisableNATPMP: true}, "tcp", 21112, true, false},
		{"pcp, link-local router", "pcp", netlab.Options{IPv6: true}, "udp", 21114, false, true},
		{"upnp, link-local router", "upnp", netlab.Options{IPv6: true, DisableNATPMP: true}, "tcp", 21116, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 90*time.Second)
			lab := newLab(t, ctx, tc.opts)
			if tc.noPCP6 {
				refusePCP6(t, ctx, lab)
			}
			if tc.llRouter {
				routeViaLinkLocal(t, ctx, lab, netlab.LAN1)
			}
			v4 := extAddr(lab, tc.port)
			v6 := netip.AddrPortFrom(lab.Addr6(netlab.LAN1), tc.port)
			fwd := netlab.Forward{Protocol: "tcp", ExternalPort: tc.port, Internal: parseAddrPort(t, "LAN1", lanAddr(lab, netlab.LAN1, tc.port))}
			startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, tc.port))
			startEcho(t, lab, netlab.LAN1, "tcp", v6.String())
			wantClosed(t, ctx, lab, "tcp", v4)
			wantClosed(t, ctx, lab, "tcp", v6)
			if err := lab.CountPackets(ctx, "v6", ipv6Over+tc.l4); err != nil {
				t.Fatal(err)
			}

			p := startClient(t, ctx, lab, netlab.LAN1, "map both "+tc.method, "map",
				"-port", strconv.Itoa(int(tc.port)), "-ext", strconv.Itoa(int(tc.port)), "-desc", "labtest both")
			m := p.mapped(20 * time.Second)
			if m.Family != "ipv4" || m.Method != tc.method || m.External != v4.String() || m.OtherFamilyErr != "" {
				t.Fatalf("Map: %+v; want the IPv4 mapping %v by %s with nothing missing", m, v4, tc.method)
			}
			if m.PinholeExternal != v6.String() || m.PinholeMethod != tc.method {
				t.Fatalf("Map: Pinhole() is %q by %q; want %v by %s", m.PinholeExternal, m.PinholeMethod, v6, tc.method)
			}
			t.Logf("Map opened %v and %v by %s in %v", v4, v6, tc.method, m.Elapsed.Round(time.Millisecond))
			wantReachable(t, ctx, lab, "tcp", v4, netlab.LAN1)
			wantReachable(t, ctx, lab, "tcp", v6, netlab.LAN1)
			wantForward(t, ctx, lab, fwd, true)
			wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, true)
			if n, err := lab.Packets(ctx, "v6"); err != nil || n == 0 {
				t.Fatalf("%s packets over IPv6 to the router after a %s pinhole: %d, %v; want some", tc.l4, tc.method, n, err)
			}

			p.close(10 * time.Second)
			wantForward(t, ctx, lab, fwd, false)
			wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, false)
			wantClosed(t, ctx, lab, "tcp", v4)
			wantClosed(t, ctx, lab, "tcp", v6)
		})
	}
}

// TestIPv4OnlyNoPinhole: on an IPv4-only lab (the LAN hosts have only
// link-local IPv6 addresses, no IPv6 route), Map with the default family
// and `upnpmap add` behave as before IPv6 support: the IPv4 mapping, no
// pinhole, nothing reported missing, and not one TCP or UDP packet over
// IPv6 reaches the router (counted in its input path), so nothing can
// have been waited for.
func TestIPv4OnlyNoPinhole(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	for _, l4 := range []string{"tcp", "udp"} {
		if err := lab.CountPackets(ctx, "v6"+l4, ipv6Over+l4); err != nil {
			t.Fatal(err)
		}
	}
	const port, cliPort = 21120, 21122
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, cliPort))

	p := startClient(t, ctx, lab, netlab.LAN1, "map v4only", "map", "-port", strconv.Itoa(port), "-ext", strconv.Itoa(port))
	m := p.mapped(15 * time.Second)
	if m.Family != "ipv4" || m.External != extAddr(lab, port).String() || m.PinholeExternal != "" || m.OtherFamilyErr != "" {
		t.Fatalf("Map on an IPv4-only host: %+v; want the IPv4 mapping alone, nothing reported missing", m)
	}
	wantReachable(t, ctx, lab, "tcp", extAddr(lab, port), netlab.LAN1)

	r := mustCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "add", strconv.Itoa(cliPort), "--json")
	added := jsonLines[cliMapping](t, "add --json", r.stdout)
	if len(added) != 1 || added[0].External != extAddr(lab, cliPort).String() || added[0].Pinhole != nil || added[0].OtherFamilyError != "" {
		t.Fatalf("add --json on an IPv4-only host: %+v; want the IPv4 mapping alone", added)
	}
	wantReachable(t, ctx, lab, "tcp", extAddr(lab, cliPort), netlab.LAN1)
	p.close(10 * time.Second)

	for _, l4 := range []string{"tcp", "udp"} {
		n, err := lab.Packets(ctx, "v6"+l4)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d %s packets over IPv6 reached the router from an IPv4-only host; want none", n, l4)
		}
	}
	ps, err := lab.Pinholes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Fatalf("pinhole rules on an IPv4-only lab: %v", ps)
	}
}

// TestIPv6PCPWithNATPMPOff pins a miniupnpd 2.3.1 behaviour: with
// enable_natpmp=no it refuses NAT-PMP and PCP over IPv4 (port unreachable)
// but still answers PCP over IPv6 and opens the pinhole: its IPv6 PCP
// socket is not tied to that option. So a router's "NAT-PMP/PCP off"
// setting says nothing about pinholes, and the front door asks PCP first
// whatever IPv4 found.
func TestIPv6PCPWithNATPMPOff(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true, DisableNATPMP: true})
	const port = 21130
	v6 := netip.AddrPortFrom(lab.Addr6(netlab.LAN1), port)
	p := startPinholeClient(t, ctx, lab, netlab.LAN1)
	if m := p.askPinhole("pcp-map " + strconv.Itoa(port)); m.Type != "mapped" || m.External != v6.String() {
		t.Fatalf("PCP MAP over IPv6 with enable_natpmp=no: %+v; want SUCCESS for %v", m, v6)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, true)
	if m := p.askPinhole("pcp-delete " + strconv.Itoa(port)); m.Type != "deleted" || m.Err != "" {
		t.Fatalf("PCP delete: %+v", m)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, false)
}

// refusePCP6 makes the router answer PCP over IPv6 with a port
// unreachable, as a router without PCP does, in a table of its own.
func refusePCP6(t *testing.T, ctx context.Context, lab *netlab.Lab) {
	t.Helper()
	if out, err := lab.Exec(ctx, netlab.Router, "nft",
		"add table inet labtest_nopcp6; "+
			"add chain inet labtest_nopcp6 input { type filter hook input priority -200; policy accept; }; "+
			"add rule inet labtest_nopcp6 input meta nfproto ipv6 udp dport 5351 reject with icmpv6 port-unreachable"); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

// routeViaLinkLocal replaces node's IPv6 default route (via the router's
// global LAN address) by one via the router's link-local address, as a
// router advertisement sets it.
func routeViaLinkLocal(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node) {
	t.Helper()
	ll, err := lab.LinkLocal(ctx, netlab.Router)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := lab.Exec(ctx, node, "ip", "-6", "route", "replace", "default", "via", ll.String(), "dev", "eth0"); err != nil {
		t.Fatalf("ip -6 route replace default via %v: %v\n%s", ll, err, out)
	}
	out, err := lab.Exec(ctx, node, "ip", "-6", "route", "show", "default")
	if err != nil || !strings.Contains(out, "via "+ll.String()) {
		t.Fatalf("%s's IPv6 default route: %v\n%s; want via %v", node, err, out, ll)
	}
}

// ipv6Over starts the nft match of a transport protocol (appended) over
// IPv6, for Lab.CountPackets.
const ipv6Over = "meta nfproto ipv6 meta l4proto "

// wantNoForward fails the test if any forward has external port port.
func wantNoForward(t *testing.T, ctx context.Context, lab *netlab.Lab, port uint16) {
	t.Helper()
	fs, err := lab.Forwards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.ExternalPort == port {
			t.Fatalf("router forwards %v; want no IPv4 forward of port %d", f, port)
		}
	}
}

// TestIPv6PCPPinholeBelow1024 pins what miniupnpd 2.3.1 does where UPnP
// refuses (606, TestIPv6PinholeRefusals): a PCP MAP of the host's IPv6
// address for a port below 1024 opens the pinhole, and the WAN reaches the
// port through it. So for a pinhole on a low port PCP is the way, and the
// front door asks it first.
func TestIPv6PCPPinholeBelow1024(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true})
	const port = 993
	v6 := netip.AddrPortFrom(lab.Addr6(netlab.LAN1), port)
	startEcho(t, lab, netlab.LAN1, "tcp", v6.String())
	wantClosed(t, ctx, lab, "tcp", v6)
	p := startPinholeClient(t, ctx, lab, netlab.LAN1)
	if m := p.askPinhole("pcp-map " + strconv.Itoa(port)); m.Type != "mapped" || m.External != v6.String() {
		t.Fatalf("PCP MAP of [%v]:%d: %+v; want SUCCESS", v6.Addr(), port, m)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: v6}, true)
	wantReachable(t, ctx, lab, "tcp", v6, netlab.LAN1)
	if m := p.askPinhole("pcp-delete " + strconv.Itoa(port)); m.Type != "deleted" || m.Err != "" {
		t.Fatalf("PCP delete: %+v", m)
	}
	wantClosed(t, ctx, lab, "tcp", v6)
}
