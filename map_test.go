package upnpmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Map's path to the first mapping (issue 7): what it asks the gateway, and
// what it no longer waits for. The assertions count requests on the wire (or
// name why a probe stopped), never wall time.

// TestMapPCPAnswerEndsProbe: with every method enabled, PCP — the first
// choice — answers, so Map goes on without waiting for a slow SSDP answer,
// and the MAP request was PCP's probe (no ANNOUNCE before it).
func TestMapPCPAnswerEndsProbe(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{})
	c.ProbeTimeout = 0 // the default budget, so only the rule can end it early
	// Late, but within the 250 ms grace that Discover gives: a Map that
	// waited for the grace would fetch the description.
	gw.SetDelay(gatewaytest.SSDP, 200*time.Millisecond)
	m := mustMap(t, c, Request{InternalPort: 5300, Lifetime: time.Hour})
	if m.Method() != PCP || m.External() != netip.AddrPortFrom(gw.ExternalAddr(), 5300) {
		t.Fatalf("mapped %v via %v", m.External(), m.Method())
	}
	if n := gw.Requests(gatewaytest.PCP); n != 1 {
		t.Errorf("%d PCP requests, want 1: the MAP is the probe", n)
	}
	if n := gw.Requests("description") + gw.Requests(gatewaytest.SOAP); n != 0 {
		t.Errorf("%d UPnP HTTP requests: Map waited for UPnP though PCP had mapped", n)
	}
	if n := gw.Requests(gatewaytest.NATPMP); n > 1 {
		t.Errorf("%d NAT-PMP requests: more than the probe", n)
	}
	if es := gw.Mappings(); len(es) != 1 || es[0].Method != gatewaytest.PCP {
		t.Fatalf("table %+v", es)
	}
	// UPnP was cut short, not written off: List asks it again and lists.
	gw.SetDelay(gatewaytest.SSDP, 0)
	es, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The fake router keeps one table: the PCP mapping is in the UPnP
	// listing too, under the router's label, which only the UPnP listing
	// supplies (List shows it once, as our PCP mapping).
	upnp := false
	for _, e := range es {
		upnp = upnp || e.Method == PCP && e.External.Port() == 5300 && e.Description == fmt.Sprintf("PCP MAP %x", m.Nonce())
	}
	if len(es) != 1 || !upnp {
		t.Fatalf("list %+v: the UPnP table is missing", es)
	}
}

// TestMapProbeSettles: on Map's path the probe stops when the best method
// still possible has answered, and waits while a preferred one may still.
func TestMapProbeSettles(t *testing.T) {
	t.Run("first choice answered", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pmpF.probeDelay, upF.probeAlive = time.Hour, time.Hour // UPnP half-way: SSDP in, description slow
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		c.ProbeTimeout = 5 * time.Second
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != PCP {
			t.Fatalf("method %v", m.Method())
		}
		for _, f := range []*fakeMapper{pmpF, upF} {
			f.mu.Lock()
			cause := f.probeCause
			f.mu.Unlock()
			if !errors.Is(cause, errProbeSettled) {
				t.Errorf("%s probe ended by %v, want the settled rule", f.m, cause)
			}
		}
	})
	t.Run("preferred one still possible", func(t *testing.T) {
		pcpF, pmpF := newFake(PCP), newFake(NATPMP)
		pcpF.probeDelay = 100 * time.Millisecond // after NAT-PMP, within the grace
		c, _ := fakeClient(t, pcpF, pmpF)
		c.ProbeTimeout = 5 * time.Second
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != PCP || pmpF.count("map") != 0 {
			t.Fatalf("mapped via %v (NAT-PMP maps: %d); PCP answered within the grace", m.Method(), pmpF.count("map"))
		}
	})
	t.Run("cut method keeps its rank", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pmpF.probeDelay = 100 * time.Millisecond // still on its way when PCP settles it
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		c.ProbeTimeout = 5 * time.Second
		if m := mustMap(t, c, Request{InternalPort: 80}); m.Method() != PCP {
			t.Fatalf("first via %v", m.Method())
		}
		// PCP fails now: NAT-PMP, preferred to UPnP, is asked again and maps,
		// although UPnP answered the probe and NAT-PMP did not.
		pcpF.set(func(f *fakeMapper) { f.mapErrs = []error{errFake} })
		m := mustMap(t, c, Request{InternalPort: 81})
		if m.Method() != NATPMP || pmpF.count("probe") != 2 || upF.count("map") != 0 {
			t.Fatalf("second via %v; NAT-PMP calls %v, UPnP calls %v", m.Method(), pmpF.calls, upF.calls)
		}
	})
	t.Run("preferred ones failed", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.probeErr = ErrUnsupported
		upF.probeDelay = time.Hour
		c, _ := fakeClient(t, pcpF, pmpF, upF)
		c.ProbeTimeout = 5 * time.Second
		m := mustMap(t, c, Request{InternalPort: 80})
		upF.mu.Lock()
		cause := upF.probeCause
		upF.mu.Unlock()
		if m.Method() != NATPMP || !errors.Is(cause, errProbeSettled) {
			t.Fatalf("mapped via %v; UPnP probe ended by %v", m.Method(), cause)
		}
	})
}

// TestMapRequestCounts: the exchanges each method's first Map makes.
func TestMapRequestCounts(t *testing.T) {
	t.Run("pcp", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, PCP)
		m := mustMap(t, c, Request{InternalPort: 5310})
		if n := gw.Requests(gatewaytest.PCP); m.Method() != PCP || n != 1 {
			t.Fatalf("via %v, %d PCP requests, want the MAP alone", m.Method(), n)
		}
	})
	t.Run("natpmp", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
		m := mustMap(t, c, Request{InternalPort: 5311})
		// The probe's external address request, then the MAP: the probe's
		// answer gives the external address.
		if n := gw.Requests(gatewaytest.NATPMP); n != 2 {
			t.Errorf("%d NAT-PMP requests, want 2", n)
		}
		if m.External() != netip.AddrPortFrom(gw.ExternalAddr(), 5311) {
			t.Fatalf("external %v", m.External())
		}
	})
	t.Run("natpmp-only router, every method", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{NATPMPOnly: true})
		m := mustMap(t, c, Request{InternalPort: 5312})
		pcpN, pmpN := gw.Requests(gatewaytest.PCP), gw.Requests(gatewaytest.NATPMP)
		if m.Method() != NATPMP || pcpN != 1 || pmpN != 2 {
			t.Fatalf("via %v after %d PCP and %d NAT-PMP requests; want 1 (the MAP probe, answered in version 0) and 2", m.Method(), pcpN, pmpN)
		}
		if m.External() != netip.AddrPortFrom(gw.ExternalAddr(), 5312) {
			t.Fatalf("external %v", m.External())
		}
	})
	t.Run("pcp refuses", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{})
		gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
		m := mustMap(t, c, Request{InternalPort: 5313})
		pcpN, pmpN := gw.Requests(gatewaytest.PCP), gw.Requests(gatewaytest.NATPMP)
		if m.Method() != NATPMP || pcpN != 1 || pmpN != 2 {
			t.Fatalf("via %v after %d PCP and %d NAT-PMP requests; the refused MAP is not asked again", m.Method(), pcpN, pmpN)
		}
	})
	t.Run("upnp", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		c.settleAfter = time.Hour // hold the read-back, to see what Map itself asked
		mustMap(t, c, Request{InternalPort: 5314, Lifetime: time.Hour})
		for action, want := range map[string]int{"GetExternalIPAddress": 1, "AddPortMapping": 1, "GetSpecificPortMappingEntry": 0} {
			if n := gw.Requests(action); n != want {
				t.Errorf("%s: %d calls before Map returned, want %d", action, n, want)
			}
		}
	})
}

// TestMapUPnPReadBackAfterReturn: the new entry is read back by the
// mapping's goroutine; a gateway that does not list it makes it Lost.
func TestMapUPnPReadBackAfterReturn(t *testing.T) {
	t.Run("listed", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		m := mustMap(t, c, Request{InternalPort: 5320, Lifetime: time.Hour})
		deadline := time.Now().Add(5 * time.Second)
		for gw.Requests("GetSpecificPortMappingEntry") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the entry was not read back within 5 s")
			}
			time.Sleep(time.Millisecond)
		}
		noEvent(t, m)
	})
	t.Run("not listed", func(t *testing.T) {
		gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
		c.PollInterval = -1
		gw.FailAction("GetSpecificPortMappingEntry", 714) // NoSuchEntryInArray
		m := mustMap(t, c, Request{InternalPort: 5321, Lifetime: time.Hour})
		ev := waitFor(t, m, Lost)
		if !errors.Is(ev.Err, ErrNoSuchEntry) || ev.External != m.External() {
			t.Fatalf("lost: %v", ev)
		}
	})
}

// TestMapPCPUnansweredWithdrawn: a MAP sent as the probe whose answer never
// came (here: later than the probe budget) is withdrawn, so the gateway does
// not keep a mapping nobody knows of.
func TestMapPCPUnansweredWithdrawn(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP)
	c.ProbeTimeout = 100 * time.Millisecond
	gw.SetDelay(gatewaytest.PCP, 500*time.Millisecond) // the MAP is made, the answer late
	_, err := c.Map(context.Background(), Request{InternalPort: 5330})
	if !errors.Is(err, ErrNoGateway) {
		t.Fatalf("err %v", err)
	}
	// The delete was sent before Map returned; the gateway takes it in its
	// own time.
	deadline := time.Now().Add(5 * time.Second)
	for len(gw.Mappings()) != 0 || gw.Requests(gatewaytest.PCP) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d PCP requests, left on the gateway: %+v", gw.Requests(gatewaytest.PCP), gw.Mappings())
		}
		time.Sleep(time.Millisecond)
	}
	if n := gw.Requests(gatewaytest.PCP); n != 2 {
		t.Fatalf("%d PCP requests, want the MAP and its delete", n)
	}
}

// TestMapListensAfterReturn: the announcement listener is opened by the
// mapping's goroutine after Map returned, not by Map; a mapping detached at
// once (the CLI's add) opens none.
func TestMapListensAfterReturn(t *testing.T) {
	var logs syncBuffer
	_, c := testGateway(t, gatewaytest.Config{}, PCP)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.settleAfter = time.Hour
	m, err := c.Map(context.Background(), Request{InternalPort: 5340})
	if err != nil {
		t.Fatal(err)
	}
	m.Detach()
	if strings.Contains(logs.String(), "listening for gateway announcements") {
		t.Fatal("a listener was opened for a mapping detached at once")
	}

	c.settleAfter = time.Millisecond
	m2 := mustMap(t, c, Request{InternalPort: 5341})
	waitListening(t, m2)
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	m2.gw.mu.Lock()
	open := m2.gw.ann != nil
	m2.gw.mu.Unlock()
	if open {
		t.Fatal("listener still open after the last mapping closed")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMapProbeHeadStart: the first method's MAP probe goes alone; the other
// probes follow only if it fails (or after mapHeadStart).
func TestMapProbeHeadStart(t *testing.T) {
	t.Run("mapped", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		c, _ := fakeClient(t, fakeMapProber{pcpF}, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != PCP || pcpF.count("probemap") != 1 || pcpF.count("map") != 1 {
			t.Fatalf("via %v; PCP calls %v", m.Method(), pcpF.calls)
		}
		if n := pmpF.count("probe") + upF.count("probe"); n != 0 {
			t.Fatalf("%d other probes sent though the MAP probe mapped", n)
		}
	})
	t.Run("not answered", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.probeErr = ErrUnsupported // port unreachable
		c, _ := fakeClient(t, fakeMapProber{pcpF}, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		if m.Method() != NATPMP || pcpF.count("map") != 0 || pmpF.count("probe") != 1 {
			t.Fatalf("via %v; PCP calls %v, NAT-PMP calls %v", m.Method(), pcpF.calls, pmpF.calls)
		}
	})
	t.Run("refused", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.mapErrs = []error{ErrNotAuthorized}
		c, _ := fakeClient(t, fakeMapProber{pcpF}, pmpF, upF)
		m := mustMap(t, c, Request{InternalPort: 80})
		// The refused MAP is not asked again by the fallback.
		if m.Method() != NATPMP || pcpF.count("map") != 1 {
			t.Fatalf("via %v; PCP calls %v", m.Method(), pcpF.calls)
		}
		// Later Maps use the cached probe: PCP answered, so it is tried first.
		m2 := mustMap(t, c, Request{InternalPort: 81})
		if m2.Method() != PCP || pcpF.count("probemap") != 1 {
			t.Fatalf("second Map via %v; PCP calls %v", m2.Method(), pcpF.calls)
		}
	})
	t.Run("silent", func(t *testing.T) {
		pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
		pcpF.probeDelay = time.Hour
		c, _ := fakeClient(t, fakeMapProber{pcpF}, pmpF, upF)
		c.ProbeTimeout = 5 * time.Second
		m := mustMap(t, c, Request{InternalPort: 80})
		// The others followed after the head start, NAT-PMP answered, and
		// the grace ended PCP's wait.
		if m.Method() != NATPMP || pmpF.count("probe") != 1 {
			t.Fatalf("via %v; NAT-PMP calls %v", m.Method(), pmpF.calls)
		}
	})
}

// TestUPnPSearchUnicastFirst: the SSDP search goes to the gateway by unicast
// first; the multicast search follows only when the gateway has not answered
// within multicastAfter. (The test's stand-in for the multicast group is a
// loopback socket that counts what it gets.)
func TestUPnPSearchUnicastFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // of the gateway's SSDP answers
		multi bool          // the multicast search is expected
	}{
		{"gateway answers", 0, false},
		{"gateway answers late", 3 * multicastAfter, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer group.Close()
			gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
			c.ProbeTimeout = 0 // the default budget
			c.ssdpGroup = group.LocalAddr().(*net.UDPAddr).AddrPort()
			gw.SetDelay(gatewaytest.SSDP, tc.delay)
			m := mustMap(t, c, Request{InternalPort: 5350})
			if m.Method() != UPnP {
				t.Fatalf("via %v", m.Method())
			}
			// Whatever was sent to the group left before Map returned.
			group.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			buf := make([]byte, 2048)
			n, _, err := group.ReadFromUDPAddrPort(buf)
			got := err == nil && strings.HasPrefix(string(buf[:n]), "M-SEARCH")
			if got != tc.multi {
				t.Fatalf("multicast search sent: %v, want %v (%d unicast M-SEARCHes)", got, tc.multi, gw.Requests(gatewaytest.SSDP))
			}
		})
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

// maxMapPathFrames is how many root-package frames may stand between
// Client.Map and PCP's MAP request on a first mapping (issue 17): Map,
// collect, pcpMapper.probeMap. A new forward on that path fails
// TestMapPathToPCPSend.
const maxMapPathFrames = 3

// TestMapPathToPCPSend pins the call path of a first PCP mapping: when the
// fake gateway adds the mapping, the goroutine that called Map is blocked in
// pcp.Client.Map, and its stack shows every root-package function between
// the two (inlined ones included). A send from another goroutine would show
// no Client.Map frame at all. Both the zero Family (no IPv6 router on
// loopback: IPv4 only) and IPv4.
func TestMapPathToPCPSend(t *testing.T) {
	for _, fam := range []Family{BothFamilies, IPv4} {
		var (
			once  sync.Once
			stack []byte
		)
		gw, c := testGateway(t, gatewaytest.Config{OnChange: func(gatewaytest.Change) {
			once.Do(func() {
				b := make([]byte, 1<<20)
				stack = b[:runtime.Stack(b, true)]
			})
		}})
		m := mustMap(t, c, Request{InternalPort: 5300, Family: fam})
		if m.Method() != PCP || gw.Requests(gatewaytest.PCP) != 1 {
			t.Fatalf("family %v: mapped via %v with %d PCP requests; want the PCP MAP as the probe", fam, m.Method(), gw.Requests(gatewaytest.PCP))
		}
		frames, err := mapPathFrames(stack)
		if err != nil {
			t.Fatalf("family %v: %v\n%s", fam, err, stack)
		}
		if len(frames) > maxMapPathFrames {
			t.Errorf("family %v: %d root-package frames from Client.Map to the PCP send, want at most %d:\n%s",
				fam, len(frames), maxMapPathFrames, strings.Join(frames, "\n"))
		}
	}
}

// mapPathFrames finds, in a dump of every goroutine's stack, the one blocked
// in pcp.Client.Map and returns its root-package functions from there out
// to the outermost Client.Map, innermost first.
func mapPathFrames(dump []byte) ([]string, error) {
	const (
		root = "github.com/upnpmap/upnpmap."
		send = "github.com/upnpmap/upnpmap/pcp.(*Client).Map("
		top  = root + "(*Client).Map("
	)
	for _, g := range strings.Split(string(dump), "\n\n") {
		i := strings.Index(g, send)
		if i < 0 {
			continue
		}
		var frames []string
		last := -1
		for _, line := range strings.Split(g[i:], "\n")[1:] {
			if !strings.HasPrefix(line, root) {
				continue // a file:line line, or another package's frame
			}
			frames = append(frames, line[len(root):strings.LastIndex(line, "(")])
			if strings.HasPrefix(line, top) {
				last = len(frames)
			}
		}
		if last < 0 {
			return nil, errors.New("the goroutine that sent the MAP has no Client.Map frame")
		}
		return frames[:last], nil
	}
	return nil, errors.New("no goroutine blocked in pcp.Client.Map")
}

// TestMapErrorNamesMethodOnce: the message of a failed Map names each method once, although the method packages' errors already
// begin with their name ("pcp: MAP: …"): never "pcp: pcp:".
func TestMapErrorNamesMethodOnce(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP, NATPMP)
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
	gw.SetResult(gatewaytest.NATPMP, gatewaytest.NATPMPNotAuthorized)
	_, err := c.Map(t.Context(), Request{InternalPort: 4620})
	if err == nil {
		t.Fatal("Map succeeded against refusing methods")
	}
	msg := err.Error()
	for _, m := range []Method{PCP, NATPMP} {
		if strings.Contains(msg, string(m)+": "+string(m)+":") {
			t.Errorf("%q names %s twice", msg, m)
		}
	}
	if !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("%v does not wrap ErrNotAuthorized", err)
	}
	if !strings.Contains(msg, "pcp: ") || !strings.Contains(msg, "natpmp: ") {
		t.Errorf("%q does not name both methods", msg)
	}
}
