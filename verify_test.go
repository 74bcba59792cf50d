package upnpmap

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/reach"
)

// Mapping.Verify (issue 11): a reach.Server on 127.0.0.1 is the checker and
// gatewaytest the router. Loopback cannot show a broken forward, so the heal
// tests use a stub checker that answers from the router's table as a real
// one would see it, and count the router's requests.

// verifyGateway is a UPnP-only fake router and a Client that does not poll,
// so that the only exchanges after Map are Verify's.
func verifyGateway(t *testing.T) (*gatewaytest.Gateway, *Client) {
	t.Helper()
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	c.PollInterval = -1
	return gw, c
}

// waitSettled waits (bounded) until the mapping's goroutine has read the new
// entry back (settle, settleDelay after Map). A check that deletes and
// re-creates the entry while that read-back is on its way makes it find the
// entry gone, and the renewer restores it: one more AddPortMapping than the
// check made, which the counting tests would blame on Verify.
func waitSettled(t *testing.T, m *Mapping) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); m.grant().unverified; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new mapping was not read back within 10 s of Map")
		}
	}
}

// startChecker runs a reach.Server on loopback for the test.
func startChecker(t *testing.T) string {
	t.Helper()
	srv := &reach.Server{Addr: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.LocalAddr().String()
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// verifyEvent waits for the next event of a Verify kind, skipping the
// renewer's (a read-back after Map may raise none, but must not confuse).
func verifyEvent(t *testing.T, m *Mapping) Event {
	t.Helper()
	for {
		ev := nextEvent(t, m)
		switch ev.Kind {
		case Verified, Unreachable, Healed, NothingListening:
			return ev
		}
	}
}

// noVerifyEvent checks that no Verify event is pending.
func noVerifyEvent(t *testing.T, m *Mapping) {
	t.Helper()
	for {
		select {
		case ev := <-m.Events():
			switch ev.Kind {
			case Verified, Unreachable, Healed, NothingListening:
				t.Fatalf("unexpected event %v", ev)
			}
		case <-time.After(20 * time.Millisecond):
			return
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestVerifyNeedsChecker(t *testing.T) {
	_, c := verifyGateway(t)
	m := mustMap(t, c, Request{InternalPort: freeTCPPort(t), Lifetime: time.Hour})
	if _, err := m.Verify(testCtx(t)); !errors.Is(err, ErrInvalidArgs) {
		t.Fatalf("Verify without a checker: %v, want ErrInvalidArgs", err)
	}
	noVerifyEvent(t, m)
}

// TestVerifyOpen: an application listens on the internal port (= external
// port on loopback); the checker gets through: Verified. The fake router's
// external address is not 127.0.0.1, the address the checker saw, so the
// comparison says UPSTREAM_NAT, as it would on a real network.
func TestVerifyOpen(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = startChecker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	m := mustMap(t, c, Request{InternalPort: port, ExternalPort: port, ExactPort: true, Lifetime: time.Hour})
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Reachable() || v.Outcome.Observed.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("verification %+v, want open as seen from 127.0.0.1", v)
	}
	if v.Result.IPv6.Verdict != reach.Unchecked {
		t.Errorf("IPv6 %v: an IPv4 mapping is checked over IPv4 only", v.Result.IPv6.Verdict)
	}
	if want := reach.CompareExternal(netip.MustParseAddr("127.0.0.1"), gw.ExternalAddr()); v.NAT != want {
		t.Errorf("NAT %v, want %v", v.NAT, want)
	}
	if ev := verifyEvent(t, m); ev.Kind != Verified || ev.External != m.External() {
		t.Fatalf("event %v, want verified %v", ev, m.External())
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestVerifyNothingListening: mapped, nothing listens: a warning event, no
// Unreachable and no heal (the mapping may be fine).
func TestVerifyNothingListening(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = startChecker(t)
	port := freeTCPPort(t)
	m := mustMap(t, c, Request{InternalPort: port, ExternalPort: port, ExactPort: true, Lifetime: time.Hour})
	dels := gw.Requests("DeletePortMapping")
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome.Verdict != reach.NothingListening {
		t.Fatalf("verdict %v, want nothing-listening", v.Outcome.Verdict)
	}
	if ev := verifyEvent(t, m); ev.Kind != NothingListening || ev.Err == nil {
		t.Fatalf("event %v, want nothing-listening with a cause", ev)
	}
	if n := gw.Requests("DeletePortMapping") - dels; n != 0 {
		t.Errorf("%d deletes: nothing to heal", n)
	}
}

// stubChecker answers like a checker on the far side of the router: open
// while open() says so, filtered otherwise, seen from seen.
func stubChecker(seen netip.Addr, open func() bool) verifyCheck {
	return func(ctx context.Context, checker string, port uint16, proto reach.Proto) (reach.Result, error) {
		o := reach.Outcome{Verdict: reach.Filtered, Observed: netip.AddrPortFrom(seen, 40000)}
		if open() {
			o.Verdict = reach.Open
		}
		return reach.Result{Port: port, Proto: proto, IPv4: o}, nil
	}
}

// TestVerifyHeals: the router lists the mapping but the forward is broken
// until the mapping is deleted and re-created (a router whose forwarding
// state went stale): Unreachable, one delete and one add, Healed.
func TestVerifyHeals(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = "checker.invalid"
	m := mustMap(t, c, Request{InternalPort: 5400, ExternalPort: 5400, Lifetime: time.Hour})
	adds0 := gw.Requests("AddPortMapping") + gw.Requests("AddAnyPortMapping")
	dels0 := gw.Requests("DeletePortMapping")
	c.checkFn = stubChecker(gw.ExternalAddr(), func() bool {
		return gw.Requests("DeletePortMapping") > dels0 && len(gw.Mappings()) == 1
	})
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Healed || !v.Reachable() || v.NAT != reach.NATNone {
		t.Fatalf("verification %+v, want healed, open, no upstream NAT", v)
	}
	if ev := verifyEvent(t, m); ev.Kind != Unreachable {
		t.Fatalf("event %v, want unreachable", ev)
	}
	if ev := verifyEvent(t, m); ev.Kind != Healed || ev.External.Port() != 5400 {
		t.Fatalf("event %v, want healed at port 5400", ev)
	}
	adds := gw.Requests("AddPortMapping") + gw.Requests("AddAnyPortMapping") - adds0
	if dels := gw.Requests("DeletePortMapping") - dels0; dels != 1 || adds != 1 {
		t.Fatalf("%d deletes and %d adds, want one of each", dels, adds)
	}
	// Healthy since: the next check is Verified, and touches no mapping.
	if _, err := m.Verify(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if ev := verifyEvent(t, m); ev.Kind != Verified {
		t.Fatalf("event %v, want verified", ev)
	}
	if dels := gw.Requests("DeletePortMapping") - dels0; dels != 1 {
		t.Errorf("%d deletes after a healthy check", dels)
	}
}

// TestVerifyStaysUnreachable: a re-creation that does not help is tried once
// per spell and reported once; later checks send the router nothing. When
// the path comes back, Verified ends the spell.
func TestVerifyStaysUnreachable(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = "checker.invalid"
	m := mustMap(t, c, Request{InternalPort: 5401, ExternalPort: 5401, Lifetime: time.Hour})
	waitSettled(t, m)
	var open atomic.Bool
	c.checkFn = stubChecker(gw.ExternalAddr(), open.Load)
	dels0 := gw.Requests("DeletePortMapping")
	adds0 := gw.Requests("AddPortMapping") + gw.Requests("AddAnyPortMapping")
	var gse1 int
	for i := range 4 {
		v, err := m.Verify(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if v.Reachable() || v.Healed {
			t.Fatalf("check %d: %+v, want unreachable", i, v)
		}
		if i == 0 {
			gse1 = gw.Requests("GetSpecificPortMappingEntry")
		}
	}
	if ev := verifyEvent(t, m); ev.Kind != Unreachable || ev.Err == nil {
		t.Fatalf("event %v, want unreachable with a cause", ev)
	}
	noVerifyEvent(t, m)
	adds := gw.Requests("AddPortMapping") + gw.Requests("AddAnyPortMapping") - adds0
	if dels := gw.Requests("DeletePortMapping") - dels0; dels != 1 || adds != 1 {
		t.Errorf("%d deletes and %d adds in four checks, want one of each", dels, adds)
	}
	// The later checks read nothing back either; the mapping's own settle
	// read-back (one, timed by the renewer) may land among them.
	if n := gw.Requests("GetSpecificPortMappingEntry") - gse1; n > 1 {
		t.Errorf("%d read-backs in the three checks after the first, want at most the renewer's one", n)
	}
	open.Store(true)
	if _, err := m.Verify(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if ev := verifyEvent(t, m); ev.Kind != Verified {
		t.Fatalf("event %v, want verified", ev)
	}
}

// TestVerifyUpstreamNAT: the checker saw another address than the router's
// external one: UPSTREAM_NAT, reported as the cause of Unreachable, and no
// delete (no re-creation on this router can help).
func TestVerifyUpstreamNAT(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = "checker.invalid"
	m := mustMap(t, c, Request{InternalPort: 5402, ExternalPort: 5402, Lifetime: time.Hour})
	c.checkFn = stubChecker(netip.MustParseAddr("198.51.100.77"), func() bool { return false })
	dels0 := gw.Requests("DeletePortMapping")
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.NAT != reach.NATUpstream || v.NAT.String() != "UPSTREAM_NAT" {
		t.Fatalf("NAT %v, want UPSTREAM_NAT", v.NAT)
	}
	ev := verifyEvent(t, m)
	if ev.Kind != Unreachable || ev.Err == nil {
		t.Fatalf("event %v, want unreachable naming the upstream NAT", ev)
	}
	if n := gw.Requests("DeletePortMapping") - dels0; n != 0 {
		t.Errorf("%d deletes behind an upstream NAT", n)
	}
}

// TestVerifyCheckerDown: no verdict, a reach error, no event.
func TestVerifyCheckerDown(t *testing.T) {
	_, c := verifyGateway(t)
	c.Checker = "127.0.0.1:" + itoaPort(freeTCPPort(t))
	c.Reach = &reach.Client{Timeout: 3 * time.Second}
	m := mustMap(t, c, Request{InternalPort: 5403, Lifetime: time.Hour})
	if _, err := m.Verify(testCtx(t)); !errors.Is(err, reach.ErrCheckerDown) {
		t.Fatalf("Verify: %v, want reach.ErrCheckerDown", err)
	}
	noVerifyEvent(t, m)
}

func itoaPort(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestVerifyAfterClose: Verify on a closed mapping raises no event (Events
// is closed) and re-creates nothing: Close deleted it for good. NAT-PMP,
// because it cannot read the table first: only the closed check stops it.
func TestVerifyAfterClose(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	c.Checker = "checker.invalid"
	c.checkFn = stubChecker(gw.ExternalAddr(), func() bool { return false })
	m := mustMap(t, c, Request{InternalPort: 5404, Lifetime: time.Hour})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	reqs := gw.Requests(gatewaytest.NATPMP)
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Reachable() || v.Healed {
		t.Fatalf("verification %+v, want unreachable, not healed", v)
	}
	if n := gw.Requests(gatewaytest.NATPMP) - reqs; n != 0 || len(gw.Mappings()) != 0 {
		t.Fatalf("%d NAT-PMP requests after Close; table %+v", n, gw.Mappings())
	}
}

// TestVerifyOtherHostRefused: a mapping to another LAN host whose probe is
// refused is Unreachable, not "nothing listening here": this machine's
// ports say nothing about that host.
func TestVerifyOtherHostRefused(t *testing.T) {
	gw, c := verifyGateway(t)
	c.Checker = "checker.invalid"
	c.checkFn = func(ctx context.Context, checker string, port uint16, proto reach.Proto) (reach.Result, error) {
		o := reach.Outcome{Verdict: reach.NothingListening, Observed: netip.AddrPortFrom(gw.ExternalAddr(), 40000)}
		return reach.Result{Port: port, Proto: proto, IPv4: o}, nil
	}
	// 192.0.2.10 (TEST-NET-1) is no address of this machine.
	m := mustMap(t, c, Request{InternalPort: 5405, InternalAddr: netip.MustParseAddr("192.0.2.10"), Lifetime: time.Hour})
	v, err := m.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Outcome.Verdict != reach.Refused {
		t.Fatalf("verdict %v, want refused", v.Outcome.Verdict)
	}
	if ev := verifyEvent(t, m); ev.Kind != Unreachable {
		t.Fatalf("event %v, want unreachable", ev)
	}
}
