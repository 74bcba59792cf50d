//go:build linux

package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wantDropped checks that a connection from the WAN host to addr gets no
// answer at all: the router's forward policy drops it (an IPv6 port with no
// pinhole), as opposed to the RST of an IPv4 port with no mapping.
func wantDropped(t *testing.T, ctx context.Context, lab *Lab, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, droppedWait)
	defer cancel()
	c, err := lab.Dial(ctx, WAN, "tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("connect from WAN to %s succeeded; want it dropped by the router", addr)
	}
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connect from WAN to %s: %v; want no answer (timeout)", addr, err)
	}
}

// droppedWait is how long wantDropped waits for a connection that must not
// happen. Through an open pinhole a connection in the lab takes
// milliseconds, so two seconds tell "dropped" from "slow" on a busy machine.
const droppedWait = 2 * time.Second

// TestLabIPv6 builds the lab with Options.IPv6 and drives miniupnpd's
// WANIPv6FirewallControl with the stock client (upnpc -6): the addresses
// are in place, a LAN server's global address is not reachable from the WAN
// host until a pinhole opens it, then it is, seeing the WAN host's own
// address (no NAT66), and DeletePinhole closes it again. IPv4 mappings keep
// working beside it.
func TestLabIPv6(t *testing.T) {
	Require(t, "upnpc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	lab, err := New(ctx, t, Options{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("IPv6 lab built in %v", time.Since(start).Round(time.Millisecond))
	if ll, err := lab.LinkLocal(ctx, Router); err != nil || !ll.IsLinkLocalUnicast() {
		t.Fatalf("router's link-local address: %v, %v", ll, err)
	}
	if !lab.IPv6() || lab.Addr6(LAN1) != lan1Addr6 || lab.Gateway6() != routerLAN6 || !lab.LANPrefix6().Contains(lab.Addr6(LAN2)) {
		t.Fatalf("IPv6 accessors: IPv6 %v, LAN1 %v, gateway %v, prefix %v", lab.IPv6(), lab.Addr6(LAN1), lab.Gateway6(), lab.LANPrefix6())
	}
	conf, err := os.ReadFile(lab.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "miniupnpd.conf", string(conf), "ipv6_disable=no\n", "ext_ifname6="+routerWANIf+"\n")

	lan1 := lab.Addr6(LAN1)
	server := netip.AddrPortFrom(lan1, 18600).String()
	startGreeter(t, lab, LAN1, server)
	// The LAN host reaches the WAN host (outbound is allowed, not NATed)...
	if greeting, err := dialGreetingFrom(ctx, lab, LAN1, startGreeter(t, lab, WAN, netip.AddrPortFrom(lab.Addr6(WAN), 18601).String())); err != nil || !strings.HasPrefix(greeting, "hello ["+lan1.String()+"]:") {
		t.Fatalf("LAN to WAN over IPv6: %q, %v; want a greeting that names %v (routed, not translated)", greeting, err, lan1)
	}
	// ...but nothing gets in unasked.
	wantDropped(t, ctx, lab, server)

	// SSDP over IPv6: upnpc -6 searches on ff02::c and finds the router by
	// the LOCATION on its global address (the one search in this test; the
	// others name the description URL).
	desc := lab.DescURL6()
	out := mustExec(t, ctx, lab, LAN1, "upnpc", "-6", "-S")
	wantContains(t, "upnpc -6 -S (discovery)", out, "Found valid IGD : http://["+routerLAN6.String()+"]:5000/")
	wantContains(t, "upnpc -6 -S", out, "Firewall Enabled: Yes", "Inbound Pinhole Allowed: Yes")
	out = mustExec(t, ctx, lab, LAN1, "upnpc", "-6", "-u", desc, "-A", "", "0", lan1.String(), "18600", "TCP", "3600")
	m := regexp.MustCompile(`Pinhole ID = (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("upnpc -6 -A: no UniqueID in:\n%s", out)
	}
	greeting, err := dialGreeting(ctx, lab, WAN, server)
	if err != nil {
		t.Fatalf("connect from WAN through the pinhole: %v\nrouter forward chain:\n%s", err, mustExec(t, ctx, lab, Router, "nft", "list", "chain", "inet", nftTable, nftForwardChain))
	}
	if want := "hello [" + lab.Addr6(WAN).String() + "]:"; !strings.HasPrefix(greeting, want) {
		t.Fatalf("LAN server saw %q; want %q… (the WAN host's own address)", greeting, want)
	}
	want := []Pinhole{{Protocol: "tcp", Internal: netip.AddrPortFrom(lan1, 18600)}}
	if ps, err := lab.Pinholes(ctx); err != nil || !reflect.DeepEqual(ps, want) {
		t.Fatalf("router's pinholes: %v, %v; want %v", ps, err, want)
	}

	out = mustExec(t, ctx, lab, LAN1, "upnpc", "-6", "-u", desc, "-D", m[1])
	wantContains(t, "upnpc -6 -D", out, "UPNP_DeletePinhole() returned : 0")
	wantDropped(t, ctx, lab, server)
	if ps, err := lab.Pinholes(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("router's pinholes after DeletePinhole: %v, %v; want none", ps, err)
	}

	// IPv4 mappings are unchanged by IPv6 being on.
	lan14 := lab.Addr(LAN1).String()
	ext := lab.ExternalAddr().String()
	startGreeter(t, lab, LAN1, lan14+":18602")
	mustExec(t, ctx, lab, LAN1, "upnpc", "-u", lab.DescURL(), "-a", lan14, "18602", "18602", "TCP")
	if _, err := dialGreeting(ctx, lab, WAN, ext+":18602"); err != nil {
		t.Fatalf("IPv4 mapping in the IPv6 lab: %v", err)
	}
}

// dialGreetingFrom connects from node to g's address and returns the
// greeting.
func dialGreetingFrom(ctx context.Context, lab *Lab, node Node, g *greeter) (string, error) {
	return dialGreeting(ctx, lab, node, g.ln.Addr().String())
}

// TestIPv6AccessorsZeroWithoutIPv6 checks that a lab built without
// Options.IPv6 reports no IPv6 address, so a test cannot dial one by mistake.
func TestIPv6AccessorsZeroWithoutIPv6(t *testing.T) {
	l := &Lab{}
	if l.IPv6() || l.Addr6(LAN1).IsValid() || l.Gateway6().IsValid() || l.ExternalAddr6().IsValid() || l.LANPrefix6().IsValid() || l.WANPrefix6().IsValid() || l.DescURL6() != "" {
		t.Fatal("an IPv4-only lab reports IPv6 addresses")
	}
	if a, err := l.LinkLocal(context.Background(), Router); err == nil {
		t.Fatalf("LinkLocal in an IPv4-only lab = %v; want an error", a)
	}
}
