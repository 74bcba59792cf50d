package upnpmap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Probe timing against routers whose SSDP answers come late, as real ones'
// do (miniupnpd answered a unicast M-SEARCH 58–120 ms after it was sent in
// the lab, while PCP and NAT-PMP answered within 15 ms).

func TestGatewayDiscoverSlowSSDP(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{})
	c.ProbeTimeout = 0 // the default budget
	gw.SetDelay(gatewaytest.SSDP, 120*time.Millisecond)
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Has(PCP) || !r.Has(NATPMP) || !r.Has(UPnP) {
		t.Fatalf("methods %v after %v: a UPnP answer 120 ms late was missed", r.Methods, r.Elapsed)
	}
	if r.Location != gw.LocationURL() || r.Device == "" {
		t.Fatalf("device %q at %q; gateway serves %q", r.Device, r.Location, gw.LocationURL())
	}
	// Every method answered: Discover returned then, not at the budget.
	if r.Elapsed >= DefaultProbeTimeout-100*time.Millisecond {
		t.Fatalf("took %v: waited for the budget though every method answered", r.Elapsed)
	}
}

// slowSSDP is a router whose SSDP answer comes well after the grace (250 ms,
// or twice PCP's round trip) but well within the probe budget, with margins
// on both sides that a loaded machine does not eat: with the default 1 s
// budget and a 700 ms delay, the re-asked UPnP search and description fetch
// once missed the budget under -race on two busy cores.
func slowSSDP(t *testing.T) (*gatewaytest.Gateway, *Client) {
	gw, c := testGateway(t, gatewaytest.Config{})
	c.ProbeTimeout = 4 * time.Second
	gw.SetDelay(gatewaytest.SSDP, 1200*time.Millisecond)
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Has(UPnP) || !r.Has(PCP) {
		t.Fatalf("methods %v after %v; the test wants UPnP to miss the grace", r.Methods, r.Elapsed)
	}
	return gw, c
}

func TestGatewayUPnPAfterGraceIsAskedAgain(t *testing.T) {
	t.Run("map falls back", func(t *testing.T) {
		gw, c := slowSSDP(t)
		gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
		gw.SetResult(gatewaytest.NATPMP, gatewaytest.NATPMPNotAuthorized)
		m := mustMap(t, c, Request{InternalPort: 5100})
		if m.Method() != UPnP || m.Location() != gw.LocationURL() {
			t.Fatalf("mapped via %v at %q", m.Method(), m.Location())
		}
		if e, ok := entry(gw, "TCP", m.External().Port()); !ok || e.Method != gatewaytest.UPnP {
			t.Fatalf("table %+v", gw.Mappings())
		}
	})
	t.Run("list", func(t *testing.T) {
		gw, c := slowSSDP(t)
		gw.AddMapping(gatewaytest.Mapping{ExternalPort: 5101, Description: "manual"})
		es, err := c.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Method != UPnP || es[0].External.Port() != 5101 || es[0].Description != "manual" {
			t.Fatalf("list %+v: the UPnP table is missing", es)
		}
	})
}

// TestProbeCutShortAskedOnce: a method cut short by the grace is asked again
// when it is needed, alone and with the whole budget; if it stays silent for
// all of it, that is remembered.
func TestProbeCutShortAskedOnce(t *testing.T) {
	pcpF, upF := newFake(PCP), newFake(UPnP)
	upF.probeDelay = 400 * time.Millisecond // beyond the grace, within the budget
	c, _ := fakeClient(t, pcpF, upF)
	c.ProbeTimeout = time.Second
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Has(UPnP) || upF.count("probe") != 1 {
		t.Fatalf("methods %v, %d UPnP probes", r.Methods, upF.count("probe"))
	}
	// PCP refuses: UPnP is asked again and maps.
	pcpF.set(func(f *fakeMapper) { f.mapErrs = []error{ErrNotAuthorized} })
	m := mustMap(t, c, Request{InternalPort: 80})
	if m.Method() != UPnP || upF.count("probe") != 2 {
		t.Fatalf("mapped via %v after %d UPnP probes", m.Method(), upF.count("probe"))
	}
	// Now known: no further probe.
	pcpF.set(func(f *fakeMapper) { f.mapErrs = []error{ErrNotAuthorized} })
	mustMap(t, c, Request{InternalPort: 81})
	if n := upF.count("probe"); n != 2 {
		t.Fatalf("%d UPnP probes, want 2", n)
	}

	// A method that stays silent for a whole probe of its own is not asked
	// again until the cache expires.
	pcpF, upF = newFake(PCP), newFake(UPnP)
	upF.probeDelay = time.Hour
	c, _ = fakeClient(t, pcpF, upF)
	c.ProbeTimeout = 100 * time.Millisecond
	for i := 0; i < 2; i++ {
		if _, err := c.List(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := upF.count("probe"); n != 2 {
		t.Fatalf("%d UPnP probes, want 2 (the first cut by the grace, one more alone)", n)
	}
}

// TestGatewayUPnPOnlySlowDescription: once the SSDP answer is in, the
// description fetch gets RequestTimeout, not what is left of ProbeTimeout.
// The description is held back for longer than the whole probe budget, so
// it arrives after the budget however late within it SSDP answered; only
// that one GET is slow (the SCPDs and SOAP calls that follow answer at once),
// which keeps the test's wall time near slowDescription.
func TestGatewayUPnPOnlySlowDescription(t *testing.T) {
	const (
		budget          = time.Second
		slowDescription = budget + budget/2
	)
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	c.ProbeTimeout = budget
	c.RequestTimeout = 4 * slowDescription
	gw.SetDelay(gatewaytest.SOAP, slowDescription) // also the description

	type result struct {
		m   *Mapping
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := c.Map(context.Background(), Request{InternalPort: 5200})
		done <- result{m, err}
	}()
	// The gateway reads the delay when it counts the request, so once the
	// description GET is counted, it is the only slow one.
	deadline := time.Now().Add(c.RequestTimeout)
	for gw.Requests("description") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no description request")
		}
		time.Sleep(time.Millisecond)
	}
	gw.SetDelay(gatewaytest.SOAP, 0)

	r := <-done // Map is bounded by ProbeTimeout and RequestTimeout
	if r.err != nil {
		t.Fatalf("Map: %v", r.err)
	}
	t.Cleanup(func() { r.m.Close() })
	if r.m.Method() != UPnP || r.m.Location() != gw.LocationURL() {
		t.Fatalf("mapped via %v at %q", r.m.Method(), r.m.Location())
	}
}

// TestDiscoverHalfwayProbeBounded: a probe half-way (SSDP answered, the
// description never comes) is given up after RequestTimeout, as a timeout:
// the gateway answered, so it is not "no gateway".
func TestDiscoverHalfwayProbeBounded(t *testing.T) {
	upF := newFake(UPnP)
	upF.probeAlive = time.Hour
	c, _ := fakeClient(t, upF)
	c.ProbeTimeout = 50 * time.Millisecond
	c.RequestTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := c.Discover(context.Background())
	if errors.Is(err, ErrNoGateway) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %v; want RequestTimeout (200ms) after the first answer", d)
	}
}

// TestDiscoverCallerContextEnds: the caller's context bounds the probe.
func TestDiscoverCallerContextEnds(t *testing.T) {
	pcpF, upF := newFake(PCP), newFake(UPnP)
	pcpF.probeDelay, upF.probeAlive = time.Hour, time.Hour
	c, _ := fakeClient(t, pcpF, upF)
	c.ProbeTimeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Discover(ctx)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v with a 100ms context", d)
	}
}

// TestNoAnswerNamesMethodOnce: a gateway whose PCP/NAT-PMP port is closed
// (ICMP port unreachable) fails Map with "no answer from gateway", whose
// message names each method once, although the method packages' errors
// begin with their name: never "pcp: pcp:" (seen behind a double NAT with
// the upstream router's daemon dead).
func TestNoAnswerNamesMethodOnce(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP, NATPMP)
	gw.Close() // its sockets closed: the kernel answers port unreachable
	_, err := c.Map(t.Context(), Request{InternalPort: 4650})
	if err == nil {
		t.Fatal("Map succeeded with the gateway's ports closed")
	}
	msg := err.Error()
	for _, m := range []Method{PCP, NATPMP} {
		if strings.Contains(msg, string(m)+": "+string(m)+":") || !strings.Contains(msg, string(m)+": ") {
			t.Errorf("%q does not name %s once", msg, m)
		}
	}
}
