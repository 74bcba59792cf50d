package upnpmap

import (
	"context"
	"errors"
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

func TestNotPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"10.1.2.3": true, "192.168.0.5": true, "172.16.9.9": true, "100.64.0.1": true, "100.127.255.254": true,
		"127.0.0.1": true, "169.254.1.1": true, "0.0.0.0": true,
		"203.0.113.7": false, "100.128.0.1": false, "8.8.8.8": false, "2001:db8::1": false, "fd00::1": true,
	} {
		if got := notPublic(netip.MustParseAddr(s)); got != want {
			t.Errorf("notPublic(%s) = %v", s, got)
		}
	}
}

func TestMapFallback(t *testing.T) {
	t.Run("pcp silent", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.probeDelay = time.Hour
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != NATPMP || pcpF.count("map") != 0 {
			t.Fatalf("method %v, PCP maps %d", m.Method(), pcpF.count("map"))
		}
	})
	t.Run("pcp speaks natpmp", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pmpF.probeDelay = time.Hour // NAT-PMP did not answer the probe...
		pcpF.mapErrs = []error{errSpeaksNATPMP}
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != NATPMP { // ...but PCP's answer says it is there
			t.Fatalf("method %v", m.Method())
		}
	})
	t.Run("pcp and natpmp fail", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.mapErrs = []error{ErrNotAuthorized}
		pmpF.mapErrs = []error{errFake}
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != UPnP {
			t.Fatalf("method %v", m.Method())
		}
	})
	t.Run("all fail", func(t *testing.T) {
		pcpF, upF := newFake(PCP), newFake(UPnP)
		pcpF.mapErrs = []error{ErrNotAuthorized}
		upF.mapErrs = []error{ErrPortInUse}
		c, _ := fakeClient(t, pcpF, upF)
		_, err := c.Map(context.Background(), Request{InternalPort: 80})
		if !errors.Is(err, ErrNotAuthorized) || !errors.Is(err, ErrPortInUse) {
			t.Fatalf("err %v", err)
		}
		// The probe is forgotten: the next Map probes again.
		if _, ok := pcpF.gwAnswered(c); ok {
			t.Fatal("probe still cached")
		}
	})
	t.Run("methods restricted", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		c.Methods = []Method{UPnP, NATPMP}
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != UPnP || pcpF.count("map") != 0 {
			t.Fatalf("method %v", m.Method())
		}
	})
	t.Run("probe cached", func(t *testing.T) {
		pcpF := newFake(PCP)
		c, _ := fakeClient(t, pcpF)
		mustMap(t, c, Request{InternalPort: 80})
		pcpF.set(func(f *fakeMapper) { f.probeErr = errFake })
		mustMap(t, c, Request{InternalPort: 81}) // would fail if it probed again
	})
	t.Run("bad request", func(t *testing.T) {
		c, _ := fakeClient(t, newFake(PCP))
		if _, err := c.Map(context.Background(), Request{}); !errors.Is(err, ErrInvalidArgs) {
			t.Fatalf("zero port: %v", err)
		}
		if _, err := c.Map(context.Background(), Request{InternalPort: 1, Protocol: "sctp"}); !errors.Is(err, ErrInvalidArgs) {
			t.Fatalf("sctp: %v", err)
		}
		c.Methods = []Method{"carrier-pigeon"}
		if _, err := c.Map(context.Background(), Request{InternalPort: 1}); !errors.Is(err, ErrInvalidArgs) {
			t.Fatalf("bad method: %v", err)
		}
	})
}

// gwAnswered reads the client's cached probe of its only gateway.
func (f *fakeMapper) gwAnswered(c *Client) ([]Method, bool) {
	c.mu.Lock()
	gw := c.gws[c.Gateway]
	c.mu.Unlock()
	return gw.probes.fresh(c.clock().Now())
}

func TestRequestNormalize(t *testing.T) {
	local := netip.MustParseAddr("192.168.1.10")
	q, err := Request{InternalPort: 8080}.normalize(local)
	if err != nil {
		t.Fatal(err)
	}
	if q.proto != TCP || q.wish != 8080 || q.lifetime != DefaultLifetime || q.description != DefaultDescription ||
		q.internal != netip.MustParseAddrPort("192.168.1.10:8080") || q.thirdParty {
		t.Fatalf("%+v", q)
	}
	q, _ = Request{Protocol: "UDP", InternalPort: 53, ExternalPort: 5353, InternalAddr: netip.MustParseAddr("192.168.1.20")}.normalize(local)
	if q.proto != UDP || q.wish != 5353 || !q.thirdParty || q.internal.Addr() != netip.MustParseAddr("192.168.1.20") {
		t.Fatalf("%+v", q)
	}
	for _, s := range []string{"pcp", "NAT-PMP", "upnp"} {
		if _, err := ParseMethod(s); err != nil {
			t.Errorf("ParseMethod(%q): %v", s, err)
		}
	}
	if _, err := ParseMethod("smtp"); !errors.Is(err, ErrInvalidArgs) {
		t.Error("ParseMethod accepted smtp")
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
