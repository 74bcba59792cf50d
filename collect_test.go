package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestDiscoverAllAnswer(t *testing.T) {
	pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
	pmpF.probeInfo = probeInfo{external: netip.MustParseAddr("203.0.113.7")}
	upF.probeInfo = probeInfo{device: "Fake Router", location: "http://127.0.0.1:1/rootDesc.xml"}
	c, _ := fakeClient(t, pcpF, pmpF, upF)
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Methods) != 3 || r.Methods[0] != PCP || r.Methods[1] != NATPMP || r.Methods[2] != UPnP {
		t.Fatalf("methods %v", r.Methods)
	}
	if r.ExternalAddr != netip.MustParseAddr("203.0.113.7") || r.ExternalPrivate {
		t.Fatalf("external %v private %v", r.ExternalAddr, r.ExternalPrivate)
	}
	if r.Device != "Fake Router" || r.Location == "" || r.Gateway != c.Gateway || !r.Local.IsValid() {
		t.Fatalf("result %+v", r)
	}
	// Everything answered at once: no grace, no budget spent.
	if r.Elapsed >= probeGrace {
		t.Fatalf("took %v though every method answered at once", r.Elapsed)
	}
	// The UPnP external address query was not needed: NAT-PMP told it.
	if upF.count("external") != 0 {
		t.Fatal("asked UPnP for the address NAT-PMP gave")
	}
}

func TestDiscoverGraceAfterFirstAnswer(t *testing.T) {
	pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
	pmpF.probeDelay = time.Hour // silent
	upF.probeDelay = time.Hour  // silent
	c, _ := fakeClient(t, pcpF, pmpF, upF)
	c.ProbeTimeout = 5 * time.Second
	start := time.Now()
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < probeGrace || d > time.Second {
		t.Fatalf("returned after %v; want the %v grace, not the budget", d, probeGrace)
	}
	if len(r.Methods) != 1 || r.Methods[0] != PCP || r.ExternalAddr.IsValid() {
		t.Fatalf("result %+v", r)
	}
}

func TestDiscoverWaitsForHalfwayProbe(t *testing.T) {
	pcpF, upF := newFake(PCP), newFake(UPnP)
	upF.probeAlive = 150 * time.Millisecond // SSDP answered; the description takes a while
	upF.probeInfo = probeInfo{device: "slow"}
	upF.external = netip.MustParseAddr("100.64.3.4") // CGNAT: double NAT
	c, _ := fakeClient(t, pcpF, upF)
	c.ProbeTimeout = 5 * time.Second
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Has(UPnP) || r.Device != "slow" || r.Elapsed < 150*time.Millisecond {
		t.Fatalf("result %+v", r)
	}
	// Only UPnP could tell the external address; it is CGNAT, and said so.
	if r.ExternalAddr != upF.external || !r.ExternalPrivate {
		t.Fatalf("external %v private %v", r.ExternalAddr, r.ExternalPrivate)
	}
}

func TestDiscoverNothingAnswers(t *testing.T) {
	pcpF, pmpF := newFake(PCP), newFake(NATPMP)
	pcpF.probeDelay, pmpF.probeDelay = time.Hour, time.Hour
	c, _ := fakeClient(t, pcpF, pmpF)
	c.ProbeTimeout = 100 * time.Millisecond
	start := time.Now()
	_, err := c.Discover(context.Background())
	if !errors.Is(err, ErrNoGateway) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrNoGateway and ErrTimeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v with a 100ms budget", d)
	}
	// Map reports the same.
	if _, err := c.Map(context.Background(), Request{InternalPort: 1}); !errors.Is(err, ErrNoGateway) {
		t.Fatalf("Map: %v", err)
	}
}

func TestDiscoverGraceScalesWithRoundTrip(t *testing.T) {
	pcpF, pmpF := newFake(PCP), newFake(NATPMP)
	pcpF.probeDelay = 200 * time.Millisecond // a slow link
	pmpF.probeDelay = 520 * time.Millisecond // 320 ms later: beyond the 250 ms grace, within 2×RTT
	c, _ := fakeClient(t, pcpF, pmpF)
	c.ProbeTimeout = 5 * time.Second
	r, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Methods) != 2 {
		t.Fatalf("methods %v after %v", r.Methods, r.Elapsed)
	}
}

// TestProbeUnusableDeviceIsNotNoGateway: when the router's UPnP device
// answers with a description that is unusable and the other methods stay
// silent, the probe's error says so (ErrUnusableDevice), not "no gateway":
// the advice to pass --gateway would be wrong, and the silence of the
// others does not make it a timeout.
func TestProbeUnusableDeviceIsNotNoGateway(t *testing.T) {
	pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
	pcpF.probeDelay, pmpF.probeDelay = time.Hour, time.Hour
	upF.probeErr = fmt.Errorf("%w: the description offers no WANIPConnection", ErrUnusableDevice)
	c, _ := fakeClient(t, pcpF, pmpF, upF)
	c.ProbeTimeout = 100 * time.Millisecond
	_, err := c.Discover(context.Background())
	if !errors.Is(err, ErrUnusableDevice) || errors.Is(err, ErrNoGateway) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Discover: %v; want ErrUnusableDevice, not ErrNoGateway nor ErrTimeout", err)
	}
	_, err = c.Map(context.Background(), Request{InternalPort: 1})
	if !errors.Is(err, ErrUnusableDevice) || errors.Is(err, ErrNoGateway) {
		t.Fatalf("Map: %v; want ErrUnusableDevice, not ErrNoGateway", err)
	}
}
