//go:build linux

package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestIPv6Pinholes opens IPv6 pinholes on miniupnpd 2.3.1 (netlab's
// Options.IPv6 lab) from LAN1 with the library's protocol clients, igd
// (WANIPv6FirewallControl:1 found in the description, requests from the
// host's global address) and pcp (MAP of the host's IPv6 address, TCP and
// UDP), and with the stock client upnpc -6 beside them. For each: a WAN
// client cannot reach the LAN server's global address before; after the pinhole it can,
// data going both ways and the server seeing the WAN host's own address;
// the router's firewall holds the pinhole rule; after the delete the rule
// is gone and the port is unreachable again. The delete is DeletePinhole,
// a PCP MAP with lifetime 0, upnpc -D, and once the workaround for
// routers that refuse DeletePinhole: UpdatePinhole to a 1 s lease.
func TestIPv6Pinholes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true}, "upnpc")
	host := lab.Addr6(netlab.LAN1)

	for _, tc := range []struct {
		name  string
		proto string // "" = tcp
		port  uint16
		open  func(t *testing.T, port uint16) (closeIt func())
	}{
		{name: "UPnP", port: 18700, open: func(t *testing.T, port uint16) func() {
			p := startPinholeClient(t, ctx, lab, netlab.LAN1)
			m := p.askPinhole(fmt.Sprintf("upnp-add %d", port))
			if m.Type != "pinhole" {
				t.Fatalf("AddPinhole: %+v", m)
			}
			t.Logf("igd: GetFirewallStatus + AddPinhole (description fetched) in %v, UniqueID %d", m.Elapsed, m.Pinhole)
			return func() {
				if m := p.askPinhole(fmt.Sprintf("upnp-delete %d", m.Pinhole)); m.Type != "deleted" || m.Err != "" {
					t.Fatalf("DeletePinhole: %+v", m)
				}
			}
		}},
		{name: "UPnP UpdatePinhole to 1 s", port: 18705, open: func(t *testing.T, port uint16) func() {
			// The workaround for routers that refuse DeletePinhole (606):
			// a one-second lease. miniupnpd removes the rule at its next
			// expiry sweep.
			p := startPinholeClient(t, ctx, lab, netlab.LAN1)
			m := p.askPinhole(fmt.Sprintf("upnp-add %d", port))
			if m.Type != "pinhole" {
				t.Fatalf("AddPinhole: %+v", m)
			}
			return func() {
				if m := p.askPinhole(fmt.Sprintf("upnp-expire %d", m.Pinhole)); m.Type != "deleted" || m.Err != "" {
					t.Fatalf("UpdatePinhole: %+v", m)
				}
				start := time.Now()
				gone := netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(host, port)}
				for {
					ps, err := lab.Pinholes(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Contains(ps, gone) {
						break
					}
					if time.Since(start) > expireWait {
						t.Fatalf("the pinhole with a 1 s lease is still there after %v: %v", expireWait, ps)
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Logf("a pinhole updated to a 1 s lease was gone after %v", time.Since(start).Round(10*time.Millisecond))
			}
		}},
		{name: "PCP", port: 18710, open: func(t *testing.T, port uint16) func() {
			p := startPinholeClient(t, ctx, lab, netlab.LAN1)
			m := p.askPinhole(fmt.Sprintf("pcp-map %d", port))
			if m.Type != "mapped" {
				t.Fatalf("PCP MAP: %+v", m)
			}
			// A pinhole, not a translation: the external address and port
			// are the host's own.
			if want := netip.AddrPortFrom(host, port).String(); m.External != want {
				t.Fatalf("PCP MAP external %s; want %s (no NAT66)", m.External, want)
			}
			t.Logf("pcp: MAP in %v, lifetime %v", m.Elapsed, m.Lifetime)
			return func() {
				if m := p.askPinhole(fmt.Sprintf("pcp-delete %d", port)); m.Type != "deleted" || m.Err != "" {
					t.Fatalf("PCP delete: %+v", m)
				}
			}
		}},
		{name: "PCP UDP", proto: "udp", port: 18715, open: func(t *testing.T, port uint16) func() {
			p := startPinholeClient(t, ctx, lab, netlab.LAN1)
			m := p.askPinhole(fmt.Sprintf("pcp-map %d udp", port))
			if m.Type != "mapped" || m.Protocol != "udp" || m.External != netip.AddrPortFrom(host, port).String() {
				t.Fatalf("PCP MAP (UDP): %+v", m)
			}
			return func() {
				if m := p.askPinhole(fmt.Sprintf("pcp-delete %d", port)); m.Type != "deleted" || m.Err != "" {
					t.Fatalf("PCP delete: %+v", m)
				}
			}
		}},
		{name: "upnpc -6", port: 18720, open: func(t *testing.T, port uint16) func() {
			id := upnpcAddPinhole(t, ctx, lab, host, port)
			return func() {
				out, err := lab.Exec(ctx, netlab.LAN1, "upnpc", "-6", "-u", lab.DescURL6(), "-D", id)
				if err != nil || !regexp.MustCompile(`UPNP_DeletePinhole\(\) returned : 0\b`).MatchString(out) {
					t.Fatalf("upnpc -6 -D %s: %v\n%s", id, err, out)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proto := tc.proto
			if proto == "" {
				proto = "tcp"
			}
			server := netip.AddrPortFrom(host, tc.port)
			startEcho(t, lab, netlab.LAN1, proto, server.String())
			wantClosed(t, ctx, lab, proto, server)

			closeIt := tc.open(t, tc.port)
			wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: proto, Internal: server}, true)
			wantReachable(t, ctx, lab, proto, server, netlab.LAN1)

			closeIt()
			wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: proto, Internal: server}, false)
			wantClosed(t, ctx, lab, proto, server)
		})
	}
}

// TestIPv6PinholeRefusals pins what miniupnpd 2.3.1 refuses, through the
// library's igd client from LAN1, and that igd reports it as
// ErrNotAuthorized with nothing opened: a pinhole for another LAN host's
// address (the recommended policy: only the caller's own address), and one
// for a port below 1024. Both answer 606 at once.
func TestIPv6PinholeRefusals(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true})
	p := startPinholeClient(t, ctx, lab, netlab.LAN1)
	for _, tc := range []struct {
		name string
		host netip.Addr
		port uint16
	}{
		{"another host", lab.Addr6(netlab.LAN2), 18730},
		{"port below 1024", lab.Addr6(netlab.LAN1), 1023},
	} {
		m := p.askPinhole(fmt.Sprintf("upnp-add %d %v", tc.port, tc.host))
		if m.Type != "error" || !slices.Contains(m.Is, "NotAuthorized") || !strings.Contains(m.Err, "606") {
			t.Errorf("%s: AddPinhole for [%v]:%d: %+v; want 606, ErrNotAuthorized", tc.name, tc.host, tc.port, m)
		}
		wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(tc.host, tc.port)}, false)
	}
	// The same client's own pinhole works: the refusals were about the
	// requests, not the setup.
	if m := p.askPinhole("upnp-add 18731"); m.Type != "pinhole" {
		t.Fatalf("AddPinhole for this host: %+v", m)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(lab.Addr6(netlab.LAN1), 18731)}, true)
}

// TestIPv6PCPLinkLocalSource pins a hazard for PCP clients: a MAP sent to
// the router's link-local address from a socket that is not bound to the
// host's global address leaves from the host's link-local address, and
// miniupnpd 2.3.1 opens a pinhole for that fe80:: address and answers
// SUCCESS, with the link-local address as the external one. Nothing is
// reachable through it: the global address's port stays closed. So a
// client must send from the global address being opened: pcp.Client picks
// no source address of its own, so give it the router's global address.
func TestIPv6PCPLinkLocalSource(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{IPv6: true})
	routerLL, err := lab.LinkLocal(ctx, netlab.Router)
	if err != nil {
		t.Fatal(err)
	}
	hostLL, err := lab.LinkLocal(ctx, netlab.LAN1)
	if err != nil {
		t.Fatal(err)
	}
	const port = 18740
	global := netip.AddrPortFrom(lab.Addr6(netlab.LAN1), port)
	startEcho(t, lab, netlab.LAN1, "tcp", global.String())
	p := startClient(t, ctx, lab, netlab.LAN1, "pinhole lan1", "pinhole",
		"-desc", lab.DescURL6(), "-local", global.Addr().String(), "-pcp", routerLL.WithZone("eth0").String())
	m := p.askPinhole(fmt.Sprintf("pcp-map %d", port))
	if m.Type != "mapped" || m.External != netip.AddrPortFrom(hostLL, port).String() {
		t.Fatalf("PCP MAP to the router's link-local address: %+v; want SUCCESS for [%v]:%d (the source)", m, hostLL, port)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(hostLL, port)}, true)
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: global}, false)
	wantClosed(t, ctx, lab, "tcp", global)
	if m := p.askPinhole(fmt.Sprintf("pcp-delete %d", port)); m.Type != "deleted" || m.Err != "" {
		t.Fatalf("PCP delete: %+v", m)
	}
	wantPinhole(t, ctx, lab, netlab.Pinhole{Protocol: "tcp", Internal: netip.AddrPortFrom(hostLL, port)}, false)
}

// expireWait bounds the wait for miniupnpd to remove a pinhole whose lease
// ran out (its expiry sweep; seconds in the research runs).
const expireWait = 15 * time.Second

// upnpcAddPinhole opens a TCP pinhole to host:port with upnpc -6 from LAN1
// (the description URL given, so no discovery wait) and returns its id.
func upnpcAddPinhole(tb testing.TB, ctx context.Context, lab *netlab.Lab, host netip.Addr, port uint16) string {
	out, err := lab.Exec(ctx, netlab.LAN1, "upnpc", "-6", "-u", lab.DescURL6(),
		"-A", "", "0", host.String(), fmt.Sprint(port), "TCP", fmt.Sprint(int(pinholeLease.Seconds())))
	m := upnpcPinholeID.FindStringSubmatch(out)
	if err != nil || m == nil {
		tb.Fatalf("upnpc -6 -A: %v\n%s", err, out)
	}
	return m[1]
}

// upnpcPinholeID is how miniupnpc 2.2.4's upnpc reports a new pinhole.
var upnpcPinholeID = regexp.MustCompile(`Pinhole ID = (\d+)`)

// wantPinhole fails the test unless the router's firewall holds p (or,
// with present false, does not), read from nft, not from a client.
func wantPinhole(t *testing.T, ctx context.Context, lab *netlab.Lab, p netlab.Pinhole, present bool) {
	t.Helper()
	ps, err := lab.Pinholes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(ps, p) != present {
		t.Fatalf("router's pinholes %v: %v present = %v, want %v", ps, p, !present, present)
	}
}

// startPinholeClient starts the pinhole client mode (ipv6_client_test.go)
// in node, with node's global address and the router's IPv6 URLs.
func startPinholeClient(t testing.TB, ctx context.Context, lab *netlab.Lab, node netlab.Node) *proc {
	return startClient(t, ctx, lab, node, "pinhole "+string(node), "pinhole",
		"-desc", lab.DescURL6(), "-local", lab.Addr6(node).String(), "-pcp", lab.Gateway6().String())
}

// askPinhole sends one command to a pinhole client and returns its answer.
func (p *proc) askPinhole(command string) msg {
	p.t.Helper()
	p.send(command)
	return p.next(sessionOpTimeout+5*time.Second, "the answer to "+command, isType("pinhole", "mapped", "error", "deleted"))
}
