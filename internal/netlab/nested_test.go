//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
)

// natpmpMap asks the NAT-PMP server at gw for a TCP mapping from node's
// namespace (the socket is opened on the thread that entered it).
func natpmpMap(ctx context.Context, lab *Lab, node Node, gw netip.Addr, internal, suggested uint16, lifetime time.Duration) (*natpmp.MapResponse, error) {
	var resp *natpmp.MapResponse
	err := lab.Do(node, func() error {
		c := &natpmp.Client{Gateway: netip.AddrPortFrom(gw, 0)}
		var err error
		resp, err = c.Map(ctx, natpmp.TCP, internal, suggested, lifetime)
		return err
	})
	return resp, err
}

// natpmpExternal asks the NAT-PMP server at gw for its external address.
func natpmpExternal(ctx context.Context, lab *Lab, node Node, gw netip.Addr) (netip.Addr, error) {
	var addr netip.Addr
	err := lab.Do(node, func() error {
		c := &natpmp.Client{Gateway: netip.AddrPortFrom(gw, 0)}
		r, err := c.ExternalAddress(ctx)
		if err == nil {
			addr = r.Addr
		}
		return err
	})
	return addr, err
}

// TestLabNested builds a double-NAT lab and chains a forward through both
// routers by hand with NAT-PMP (which maps to the request's sender, so the
// ISP router's forward points at the home router's WAN address): the WAN
// host then reaches a LAN server at the ISP router's address, and the
// server sees the WAN host's own address. Then the ISP router's daemon is
// killed (the forward keeps working, the daemon answers nothing) and
// rebooted (its forward is gone), and the lab tears down cleanly.
func TestLabNested(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	lab, err := New(ctx, t, Options{Nested: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nested lab built in %v", time.Since(start).Round(time.Millisecond))

	inner, outer := lab.ExternalAddr(), lab.ISPExternalAddr()
	if inner != netip.MustParseAddr("10.77.0.2") || outer != netip.MustParseAddr("1.2.3.4") || lab.ISPGateway() != netip.MustParseAddr("10.77.0.1") {
		t.Fatalf("addresses: home WAN %v, ISP WAN %v, ISP LAN %v; want 10.77.0.2, 1.2.3.4, 10.77.0.1", inner, outer, lab.ISPGateway())
	}
	if n := lab.ISPSTUNRequests(); n < 4 {
		t.Errorf("the home router's STUN responder answered %d requests, want at least 4", n)
	}
	if !strings.Contains(lab.Log(), "MAPPED-ADDRESS 10.77.0.2:") {
		t.Errorf("the home router did not learn 10.77.0.2 by STUN:\n%s", lab.Log())
	}
	// Each router reports its own WAN address: the double-NAT cue.
	for _, c := range []struct {
		gw   netip.Addr
		want netip.Addr
	}{{lab.Gateway(), inner}, {lab.ISPGateway(), outer}} {
		got, err := natpmpExternal(ctx, lab, LAN1, c.gw)
		if err != nil || got != c.want {
			t.Fatalf("NAT-PMP external address from %v: %v, %v; want %v", c.gw, got, err, c.want)
		}
	}

	lan1 := lab.Addr(LAN1)
	startGreeter(t, lab, LAN1, lan1.String()+":18080")
	leg1, err := natpmpMap(ctx, lab, LAN1, lab.Gateway(), 18080, 18080, 2*time.Minute)
	if err != nil {
		t.Fatalf("map on the home router: %v", err)
	}
	e1 := leg1.ExternalPort
	// The request crosses the home router's NAT: the ISP router sees it from
	// 10.77.0.2 and maps to that address, internal port e1.
	leg2, err := natpmpMap(ctx, lab, LAN1, lab.ISPGateway(), e1, e1+1, 2*time.Minute)
	if err != nil {
		t.Fatalf("map on the ISP router: %v", err)
	}
	e2 := leg2.ExternalPort
	wantForwards(t, ctx, lab.Forwards, "home router", Forward{"tcp", e1, netip.AddrPortFrom(lan1, 18080)})
	wantForwards(t, ctx, lab.ISPForwards, "ISP router", Forward{"tcp", e2, netip.AddrPortFrom(inner, e1)})

	outerAddr := netip.AddrPortFrom(outer, e2).String()
	greeting, err := dialGreeting(ctx, lab, WAN, outerAddr)
	if err != nil {
		t.Fatalf("connect from WAN to %s through both NATs: %v", outerAddr, err)
	}
	if !strings.HasPrefix(greeting, "hello "+lab.Addr(WAN).String()+":") {
		t.Fatalf("LAN server saw %q; want the WAN host's own address", greeting)
	}

	// The ISP router goes silent: its forwards stay, it answers nothing.
	if err := lab.KillISPRouter(); err != nil {
		t.Fatal(err)
	}
	if pid := lab.ISPRouterPID(); pid != 0 {
		t.Fatalf("ISP router pid %d after KillISPRouter", pid)
	}
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = natpmpExternal(sctx, lab, LAN1, lab.ISPGateway())
	scancel()
	if err == nil {
		t.Fatal("the killed ISP router still answered NAT-PMP")
	}
	if _, err := dialGreeting(ctx, lab, WAN, outerAddr); err != nil {
		t.Fatalf("the forward stopped working when the ISP daemon died: %v", err)
	}

	// A reboot loses the ISP router's forwards and moves its HTTP port.
	port := lab.ISPHTTPPort()
	if err := lab.RestartISPRouter(ctx); err != nil {
		t.Fatal(err)
	}
	if lab.ISPHTTPPort() != port+1 || lab.ISPRouterPID() == 0 {
		t.Fatalf("after RestartISPRouter: HTTP port %d (was %d), pid %d", lab.ISPHTTPPort(), port, lab.ISPRouterPID())
	}
	wantForwards(t, ctx, lab.ISPForwards, "ISP router after reboot")
	if _, err := dialGreeting(ctx, lab, WAN, outerAddr); err == nil {
		t.Fatal("the WAN host still reaches the LAN server after the ISP router rebooted")
	}
	if !strings.Contains(lab.ISPLog(), "ISP router, run 2, HTTP port "+strconv.Itoa(int(port+1))) {
		t.Errorf("ISP log lacks the second run:\n%s", lab.ISPLog())
	}

	// The home router reboots as in a single-router lab, and learns its
	// address by STUN from the ISP router's LAN again.
	stun := lab.ISPSTUNRequests()
	if err := lab.RestartRouter(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lab.ISPSTUNRequests(); n < stun+4 {
		t.Errorf("the home router's restart asked the STUN responder %d times; want at least 4", n-stun)
	}
	if got, err := natpmpExternal(ctx, lab, LAN1, lab.Gateway()); err != nil || got != inner {
		t.Fatalf("NAT-PMP external address after the home router's restart: %v, %v; want %v", got, err, inner)
	}
	if err := lab.ChangeWANAddr(ctx, netip.MustParseAddr("1.2.3.5")); err == nil {
		t.Error("ChangeWANAddr in a nested lab: no error")
	}

	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckClean(); err != nil {
		t.Fatal(err)
	}
}

// wantForwards checks that list returns exactly want.
func wantForwards(t *testing.T, ctx context.Context, list func(context.Context) ([]Forward, error), what string, want ...Forward) {
	t.Helper()
	got, err := list(ctx)
	if err != nil {
		t.Fatalf("%s forwards: %v", what, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s forwards: %v; want %v", what, got, want)
	}
}

// TestNestedOptions checks what a nested lab refuses before building
// anything, and that the single-router lab has no ISP accessors.
func TestNestedOptions(t *testing.T) {
	for _, o := range []Options{
		{Nested: true, IPv6: true},
		{Nested: true, ISP: ISPOptions{DisableNATPMP: true, DisableUPnP: true}},
		{Nested: true, ISP: ISPOptions{ExtraConfig: []string{"a=1\nb=2"}}},
	} {
		if err := o.fill(); err == nil {
			t.Errorf("Options %+v: no error", o)
		}
	}
	o := Options{Nested: true}
	if err := o.fill(); err != nil || o.ISP.HTTPPort != 5000 {
		t.Errorf("default ISP options: %v, HTTP port %d", err, o.ISP.HTTPPort)
	}
	var l Lab
	if l.Nested() || l.ISPGateway().IsValid() || l.ISPExternalAddr().IsValid() {
		t.Error("a lab without Nested reports an ISP router")
	}
	if err := l.KillISPRouter(); err == nil {
		t.Error("KillISPRouter on a single-router lab: no error")
	}
}

// TestISPConfig checks the ISP router's miniupnpd.conf: its own UUID and
// name, its LAN as the permitted network, its own method switches.
func TestISPConfig(t *testing.T) {
	text := miniupnpdConf(routerConfig{
		opts: ISPOptions{DisableUPnP: true}.routerOptions(), wanIf: routerWANIf, lanIf: ispLANIf,
		httpPort: 49000, stunHost: wanHost.String(), stunPort: stunPort, lanNet: ispNet.String(),
		uuid: ispUUID, name: "upnpmap lab ISP router",
	})
	for _, want := range []string{"uuid=" + ispUUID, "friendly_name=upnpmap lab ISP router", "listening_ip=lan0",
		"http_port=49000", "enable_upnp=no", "enable_natpmp=yes", "allow 1024-65535 10.77.0.0/24 1024-65535"} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("ISP config lacks %q:\n%s", want, text)
		}
	}
}

// pcpMapAs sends one PCP MAP request from node to the server at gw with
// client as the header's client address (whatever the socket's), and
// returns the parsed response.
func pcpMapAs(ctx context.Context, lab *Lab, node Node, gw, client netip.Addr, internal uint16) (*pcp.Response, error) {
	req, err := pcp.AppendMapRequest(nil, client, &pcp.MapRequest{
		Protocol: pcp.TCP, InternalPort: internal, Lifetime: 2 * time.Minute, Nonce: pcp.NewNonce(),
	})
	if err != nil {
		return nil, err
	}
	c, err := lab.Dial(ctx, node, "udp4", netip.AddrPortFrom(gw, pcp.Port).String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, pcp.MaxMessageSize)
	for attempt := 0; attempt < pcpAttempts; attempt++ {
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(pcpWait))
		n, err := c.Read(buf)
		if err == nil {
			return pcp.ParseResponse(buf[:n])
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("no PCP answer from %v after %d attempts", gw, pcpAttempts)
}

// A datagram lost on two busy cores is sent again, a few times.
const (
	pcpAttempts = 4
	pcpWait     = time.Second
)

// TestLabNestedPCPClientAddress shows what the outer leg of a PCP chain
// must carry: a MAP from a LAN host to the ISP router crosses the home
// router's NAT, so the ISP router refuses the host's own address as the
// client address (ADDRESS_MISMATCH) and accepts the home router's WAN
// address, mapping to it.
func TestLabNestedPCPClientAddress(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{Nested: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcpMapAs(ctx, lab, LAN1, lab.ISPGateway(), lab.Addr(LAN1), 18090)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != pcp.AddressMismatch {
		t.Fatalf("MAP naming the host's own address: result %v; want ADDRESS_MISMATCH", r.Result)
	}
	r, err = pcpMapAs(ctx, lab, LAN1, lab.ISPGateway(), lab.ExternalAddr(), 18090)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != pcp.Success || r.External.Addr() != lab.ISPExternalAddr() {
		t.Fatalf("MAP naming the home router's WAN address: result %v, external %v; want SUCCESS at %v", r.Result, r.External, lab.ISPExternalAddr())
	}
	wantForwards(t, ctx, lab.ISPForwards, "ISP router",
		Forward{"tcp", r.External.Port(), netip.AddrPortFrom(lab.ExternalAddr(), 18090)})
}

// TestLabNestedCGNAT: with ISPOptions.CGNAT the middle network is in the
// shared address space; the home router adopts its 100.64.77.2 by STUN as
// it does 10.77.0.2, and reports it.
func TestLabNestedCGNAT(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{Nested: true, ISP: ISPOptions{CGNAT: true}})
	if err != nil {
		t.Fatal(err)
	}
	home, isp := netip.MustParseAddr("100.64.77.2"), netip.MustParseAddr("100.64.77.1")
	if lab.ExternalAddr() != home || lab.ISPGateway() != isp || lab.ISPPrefix() != netip.MustParsePrefix("100.64.77.0/24") {
		t.Fatalf("home WAN %v, ISP LAN %v, middle net %v; want %v, %v, 100.64.77.0/24", lab.ExternalAddr(), lab.ISPGateway(), lab.ISPPrefix(), home, isp)
	}
	if got, err := natpmpExternal(ctx, lab, LAN1, lab.Gateway()); err != nil || got != home {
		t.Fatalf("NAT-PMP external address of the home router: %v, %v; want %v", got, err, home)
	}
	if got, err := natpmpExternal(ctx, lab, LAN1, isp); err != nil || got != lab.ISPExternalAddr() {
		t.Fatalf("NAT-PMP external address of the ISP router: %v, %v; want %v", got, err, lab.ISPExternalAddr())
	}
}
