//go:build linux

package labtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// Double NAT: a nested lab (netlab.Options.Nested), the host on LAN1
// behind the home router (WAN 10.77.0.2), itself behind the ISP router
// (LAN 10.77.0.1, WAN 1.2.3.4). A chained mapping has two legs: the home
// router forwards E1 to the host, the ISP router E2 to 10.77.0.2:E1.

// chainMsgWait bounds a chained Map in the client process: two routers,
// each probed (labProbeTimeout) and asked.
const chainMsgWait = 30 * time.Second

// startChain starts a "chain" client in LAN1 mapping TCP port, with extra
// flags, and returns it with its "mapped" message (the test fails if Map
// failed).
func startChain(t *testing.T, ctx context.Context, lab *netlab.Lab, name string, port uint16, flags ...string) (*proc, msg) {
	t.Helper()
	args := append([]string{"chain", "-timeout", "25s", "-port", strconv.Itoa(int(port)), "-ext", strconv.Itoa(int(port) + 1000)}, flags...)
	p := startClient(t, ctx, lab, netlab.LAN1, name, args...)
	m := p.mapped(chainMsgWait)
	if m.Chain == nil {
		t.Fatalf("%s: no chain information in %+v", name, m)
	}
	return p, m
}

// wantChained checks that m has both legs, made by inner and outer (empty:
// any method), each forwarding where it should, and that External is the
// outer leg's. It returns the two legs' external addresses.
func wantChained(t *testing.T, lab *netlab.Lab, m msg, inner, outer string, port uint16) (e1, e2 netip.AddrPort) {
	t.Helper()
	c := m.Chain
	if c.UpstreamErr != "" || len(c.Legs) != 2 {
		t.Fatalf("legs %v, upstream error %q; want two legs and no error", c.Legs, c.UpstreamErr)
	}
	in, out := c.Legs[0], c.Legs[1]
	e1 = parseAddrPort(t, "inner leg", in.External)
	e2 = parseAddrPort(t, "upstream leg", out.External)
	switch {
	case in.Router != lab.Gateway().String() || (inner != "" && in.Method != inner) ||
		e1.Addr() != lab.ExternalAddr() || in.Internal != lanAddr(lab, netlab.LAN1, port):
		t.Fatalf("inner leg %v; want %s on %v: %v:* -> %s", in, inner, lab.Gateway(), lab.ExternalAddr(), lanAddr(lab, netlab.LAN1, port))
	case out.Router != lab.ISPGateway().String() || (outer != "" && out.Method != outer) ||
		e2.Addr() != lab.ISPExternalAddr() || out.Internal != e1.String():
		t.Fatalf("upstream leg %v; want %s on %v: %v:* -> %v", out, outer, lab.ISPGateway(), lab.ISPExternalAddr(), e1)
	case m.External != e2.String():
		t.Fatalf("External() = %s; want the upstream leg's %v", m.External, e2)
	}
	return e1, e2
}

// wantRouterForward checks whether list (Forwards or ISPForwards) holds
// the TCP forward f.
func wantRouterForward(t *testing.T, ctx context.Context, what string, list func(context.Context) ([]netlab.Forward, error), f netlab.Forward, present bool) {
	t.Helper()
	got, err := list(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, f) != present {
		t.Fatalf("%s forwards %v: %v present = %v; want %v", what, got, f, !present, present)
	}
}

// TestDoubleNATMap: from the host, Map through both routers for pairs of
// methods (inner router's, ISP router's: Client.Methods and
// Client.UpstreamMethods), with Client.Upstream naming the ISP router.
// Each router's table holds its leg, the WAN host reaches the host's
// server through both NATs (a TCP connect with a payload, echoed, the
// server seeing the WAN host's own address), and after Close neither
// router holds an entry and the port is closed. The time to a chained
// mapping is logged.
func TestDoubleNATMap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	pairs := [][2]string{
		{"pcp", "pcp"}, {"natpmp", "natpmp"}, {"upnp", "upnp"}, {"upnp", "pcp"},
		{"pcp", "upnp"}, {"natpmp", "pcp"},
	}
	for i, pair := range pairs {
		inner, outer := pair[0], pair[1]
		port := uint16(26000 + 10*i)
		t.Run(inner+"/"+outer, func(t *testing.T) {
			t.Parallel()
			startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
			p, m := startChain(t, ctx, lab, inner+"/"+outer, port,
				"-methods", inner, "-upstream-methods", outer, "-upstream", lab.ISPGateway().String())
			e1, e2 := wantChained(t, lab, m, inner, outer, port)
			t.Logf("%s inside, %s outside: chained %v -> %v -> %s in %v", inner, outer, e2, e1, m.Internal, m.Elapsed.Round(time.Millisecond))
			homeF := netlab.Forward{Protocol: "tcp", ExternalPort: e1.Port(), Internal: netip.AddrPortFrom(lab.Addr(netlab.LAN1), port)}
			ispF := netlab.Forward{Protocol: "tcp", ExternalPort: e2.Port(), Internal: e1}
			wantRouterForward(t, ctx, "home router", lab.Forwards, homeF, true)
			wantRouterForward(t, ctx, "ISP router", lab.ISPForwards, ispF, true)
			wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)

			p.close(10 * time.Second)
			wantRouterForward(t, ctx, "home router", lab.Forwards, homeF, false)
			wantRouterForward(t, ctx, "ISP router", lab.ISPForwards, ispF, false)
			wantClosed(t, ctx, lab, "tcp", e2)
		})
	}
}

// TestDoubleNATFound: with nothing configured, Map sees the gateway's
// private external address, finds the ISP router by itself (on Linux a
// TTL-limited probe) and chains through it; with NoChain it maps on the
// home router alone and sends the ISP router nothing.
func TestDoubleNATFound(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})

	t.Run("auto", func(t *testing.T) {
		const port = 26500
		startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
		p, m := startChain(t, ctx, lab, "auto", port)
		_, e2 := wantChained(t, lab, m, "", "", port)
		t.Logf("found the upstream router and chained %v -> %s by %s/%s in %v (default methods)",
			e2, m.Internal, m.Chain.Legs[0].Method, m.Chain.Legs[1].Method, m.Elapsed.Round(time.Millisecond))
		wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)
		p.close(10 * time.Second)
		wantClosed(t, ctx, lab, "tcp", e2)
	})

	t.Run("nochain", func(t *testing.T) {
		const port = 26510
		before, err := lab.ISPForwards(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, m := startChain(t, ctx, lab, "nochain", port, "-nochain")
		if len(m.Chain.Legs) != 1 || m.Chain.UpstreamErr != "" {
			t.Fatalf("NoChain: legs %v, upstream error %q; want one leg, no error", m.Chain.Legs, m.Chain.UpstreamErr)
		}
		if ext := parseAddrPort(t, "External()", m.External); ext.Addr() != lab.ExternalAddr() {
			t.Fatalf("NoChain: External() = %v; want the home router's %v", ext, lab.ExternalAddr())
		}
		after, err := lab.ISPForwards(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(before, after) {
			t.Fatalf("NoChain: the ISP router's forwards changed from %v to %v", before, after)
		}
	})
}

// TestDoubleNATUpstreamReboot: the ISP router reboots (its table empties,
// its HTTP port moves) under a chained mapping whose upstream leg is UPnP,
// checked every second (PollInterval); the library notices (Lost, leg 1)
// and re-creates the upstream leg (Restored, leg 1), and the WAN host
// reaches the server again within a bounded time, which is logged. The
// ISP router's HTTP port
// is 49000, as on a FRITZ!Box: the library must find its description, not
// guess it.
func TestDoubleNATUpstreamReboot(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true, ISP: netlab.ISPOptions{HTTPPort: 49000}})
	const port = 26600
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	p, m := startChain(t, ctx, lab, "reboot", port,
		"-upstream", lab.ISPGateway().String(), "-upstream-methods", "upnp", "-poll", "1s")
	_, e2 := wantChained(t, lab, m, "", "upnp", port)
	wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)

	start := time.Now()
	if err := lab.RestartISPRouter(ctx); err != nil {
		t.Fatal(err)
	}
	// (Whether the forward is gone is not checked here: the library, polling
	// every second, may have made it again already. RestartISPRouter's own
	// test shows that a reboot empties the table.)
	const bound = 30 * time.Second
	p.next(bound, "Lost on the upstream leg", func(m msg) bool {
		return m.Type == "event" && m.Kind == "Lost" && m.Leg == 1
	})
	p.next(bound, "Restored on the upstream leg", func(m msg) bool {
		return m.Type == "event" && m.Kind == "Restored" && m.Leg == 1
	})
	p.send("legs")
	now := p.next(5*time.Second, "the legs", isType("legs"))
	_, e2 = wantChained(t, lab, now, "", "upnp", port)
	_, took, err := waitReachable(ctx, lab, "tcp", e2, bound-time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)
	t.Logf("upstream router reboot: reachable again at %v %v after the reboot began (reachable %v after Restored)",
		e2, time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	p.close(10 * time.Second)
}

// TestDoubleNATUpstreamSilent: the ISP router's miniupnpd is dead (its
// forwarding goes on, nothing answers PCP, NAT-PMP or HTTP). Map still
// returns the inner mapping, which works within the middle network (from
// the ISP router's namespace), and its UpstreamErr says why the chain is
// missing: ErrUpstreamUnmapped, naming the upstream router and the
// forward to configure by hand (to 10.77.0.2:E1); a Failed event for leg 1
// says the same.
func TestDoubleNATUpstreamSilent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	if err := lab.KillISPRouter(); err != nil {
		t.Fatal(err)
	}
	const port = 26700
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	p, m := startChain(t, ctx, lab, "silent", port, "-upstream", lab.ISPGateway().String())
	c := m.Chain
	if len(c.Legs) != 1 || !c.Unmapped {
		t.Fatalf("legs %v, upstream error %q (ErrUpstreamUnmapped: %v); want the inner leg alone and ErrUpstreamUnmapped", c.Legs, c.UpstreamErr, c.Unmapped)
	}
	e1 := parseAddrPort(t, "inner leg", c.Legs[0].External)
	if e1.Addr() != lab.ExternalAddr() || m.External != e1.String() {
		t.Fatalf("inner leg %v, External() %s; want the home router's address %v", c.Legs[0], m.External, lab.ExternalAddr())
	}
	if c.Upstream != lab.ISPGateway().String() || c.Target != e1.String() || c.CGNAT {
		t.Fatalf("UpstreamError: upstream %q, target %q, CGNAT %v; want %v, %v, false", c.Upstream, c.Target, c.CGNAT, lab.ISPGateway(), e1)
	}
	if !strings.Contains(c.UpstreamErr, e1.String()) {
		t.Errorf("the upstream error does not name the forward to make by hand (to %v): %q", e1, c.UpstreamErr)
	}
	for _, twice := range []string{"pcp: pcp:", "natpmp: natpmp:", "upnp: upnp:"} {
		if strings.Contains(c.UpstreamErr, twice) {
			t.Errorf("the upstream error names a method twice (%q): %q", twice, c.UpstreamErr)
		}
	}
	t.Logf("silent upstream router: Map returned the inner leg after %v: %s", m.Elapsed.Round(time.Millisecond), c.UpstreamErr)
	p.next(5*time.Second, "Failed on the upstream leg", func(m msg) bool {
		return m.Type == "event" && m.Kind == "Failed" && m.Leg == 1
	})

	wantRouterForward(t, ctx, "home router", lab.Forwards,
		netlab.Forward{Protocol: "tcp", ExternalPort: e1.Port(), Internal: netip.AddrPortFrom(lab.Addr(netlab.LAN1), port)}, true)
	if err := echoFrom(ctx, lab, netlab.ISP, e1); err != nil {
		t.Fatalf("the inner mapping does not work from the middle network: %v", err)
	}
	p.close(10 * time.Second)
	wantRouterForward(t, ctx, "home router", lab.Forwards,
		netlab.Forward{Protocol: "tcp", ExternalPort: e1.Port(), Internal: netip.AddrPortFrom(lab.Addr(netlab.LAN1), port)}, false)
}

// echoFrom connects from node to addr over TCP, sends a line and checks
// the echo server's answer.
func echoFrom(ctx context.Context, lab *netlab.Lab, node netlab.Node, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := lab.Dial(ctx, node, "tcp4", addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	payload := fmt.Sprintf("probe-%d", probeSeq.Add(1))
	if _, err := io.WriteString(c, payload+"\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasSuffix(strings.TrimSpace(line), payload) {
		return fmt.Errorf("echo %q for %q", line, payload)
	}
	return nil
}

// TestDoubleNATInnerReboot: the home router reboots under a chained
// mapping whose inner leg is UPnP, checked every second; the library
// notices (Lost, leg 0) and re-creates the inner leg (Restored, leg 0),
// the upstream leg still forwards to it, and the WAN host reaches the
// server again within a bounded time, which is logged.
func TestDoubleNATInnerReboot(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	const port = 26800
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	p, m := startChain(t, ctx, lab, "inner reboot", port,
		"-upstream", lab.ISPGateway().String(), "-methods", "upnp", "-poll", "1s")
	_, e2 := wantChained(t, lab, m, "upnp", "", port)
	wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)

	start := time.Now()
	if err := lab.RestartRouter(ctx); err != nil {
		t.Fatal(err)
	}
	const bound = 30 * time.Second
	p.next(bound, "Lost on the inner leg", func(m msg) bool {
		return m.Type == "event" && m.Kind == "Lost" && m.Leg == 0
	})
	p.next(bound, "Restored on the inner leg", func(m msg) bool {
		return m.Type == "event" && m.Kind == "Restored" && m.Leg == 0
	})
	p.send("legs")
	_, e2 = wantChained(t, lab, p.next(5*time.Second, "the legs", isType("legs")), "upnp", "", port)
	if _, _, err := waitReachable(ctx, lab, "tcp", e2, bound-time.Since(start)); err != nil {
		t.Fatal(err)
	}
	wantReachable(t, ctx, lab, "tcp", e2, netlab.LAN1)
	t.Logf("home router reboot: reachable again at %v %v after the reboot began", e2, time.Since(start).Round(time.Millisecond))
	p.close(10 * time.Second)
}

// TestDoubleNATCGNAT: the home router's WAN address is in the shared
// address space (100.64.77.2) and the ISP's router does not map (its
// daemon dead, as at a carrier). Map, with nothing configured, finds the
// upstream router, keeps the inner leg, and its UpstreamErr says
// carrier-grade NAT and that only a relay, an SSH forward or IPv6 helps;
// the CLI's add says the same.
func TestDoubleNATCGNAT(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true, ISP: netlab.ISPOptions{CGNAT: true}})
	buildCLI(t)
	if err := lab.KillISPRouter(); err != nil {
		t.Fatal(err)
	}
	const port = 26960
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))
	_, m := startChain(t, ctx, lab, "cgnat", port)
	c := m.Chain
	if len(c.Legs) != 1 || !c.Unmapped || !c.CGNAT || c.Upstream != lab.ISPGateway().String() {
		t.Fatalf("legs %v, upstream error %q (unmapped %v, CGNAT %v, upstream %q); want the inner leg, CGNAT, upstream %v",
			c.Legs, c.UpstreamErr, c.Unmapped, c.CGNAT, c.Upstream, lab.ISPGateway())
	}
	for _, want := range []string{"carrier-grade NAT", "relay", "IPv6"} {
		if !strings.Contains(c.UpstreamErr, want) {
			t.Errorf("upstream error lacks %q: %s", want, c.UpstreamErr)
		}
	}
	if e1 := parseAddrPort(t, "inner leg", c.Legs[0].External); e1.Addr() != lab.ExternalAddr() {
		t.Fatalf("inner leg %v; want the home router's %v", c.Legs[0], lab.ExternalAddr())
	}

	r := runCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "add", strconv.Itoa(port+1))
	wantOutput(t, "add behind CGNAT", r.stdout+r.stderr, "carrier-grade NAT", "relay")
}
