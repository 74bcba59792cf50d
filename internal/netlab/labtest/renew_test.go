//go:build linux

package labtest

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestRenewal: NAT-PMP and UPnP mappings with a 5 s lease stay reachable
// from the WAN for more than three lifetimes because the library renews
// them, while a NAT-PMP mapping of the same lease whose client was killed
// (so nothing renews it) is gone after its lifetime: the router really
// expires leases this short, so the renewals are what keeps the others.
func TestRenewal(t *testing.T) {
	t.Parallel()
	const lifetime = 5 * time.Second
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})

	type mapping struct {
		method string
		port   uint16
		p      *proc
		ext    netip.AddrPort
	}
	maps := []*mapping{{method: "natpmp", port: 23000}, {method: "upnp", port: 23001}, {method: "natpmp", port: 23002}}
	for _, m := range maps {
		startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, m.port))
		m.p = startClient(t, ctx, lab, netlab.LAN1, m.method+"-"+strconv.Itoa(int(m.port)), "map", "-methods", m.method,
			"-port", strconv.Itoa(int(m.port)), "-lifetime", lifetime.String(), "-desc", "labtest renewal")
	}
	for _, m := range maps {
		mm := m.p.mapped(15 * time.Second)
		m.ext = parseAddrPort(t, "External()", mm.External)
		if mm.Lifetime != lifetime {
			t.Fatalf("%s: granted lifetime %v; want the %v asked for (miniupnpd grants short NAT-PMP and UPnP leases)", m.p.name, mm.Lifetime, lifetime)
		}
		wantReachable(t, ctx, lab, "tcp", m.ext, netlab.LAN1)
	}
	// The control: nothing renews this one any more.
	control := maps[2]
	control.p.cmd.Process.Kill()
	maps = maps[:2]
	killed := time.Now()

	// Probe every 500 ms for 3.5 lifetimes: each renewed mapping must answer
	// every time; the control must be gone within its lifetime plus the
	// router's cleanup delay.
	const checkFor = lifetime*3 + lifetime/2
	var controlGone time.Duration
	for start := time.Now(); time.Since(start) < checkFor; time.Sleep(500 * time.Millisecond) {
		for _, m := range maps {
			if err := probeStrict(ctx, lab, m.ext); err != nil {
				t.Fatalf("%s after %v (%d renewals): %v", m.p.name, time.Since(start).Round(time.Millisecond), m.p.events("Renewed"), err)
			}
		}
		if controlGone == 0 {
			if _, err := probe(ctx, lab, "tcp", control.ext); errors.Is(err, syscall.ECONNREFUSED) {
				controlGone = time.Since(killed)
			}
		}
	}
	for _, m := range maps {
		n := m.p.events("Renewed")
		t.Logf("%s: reachable throughout %v (%d lifetimes), %d renewals", m.p.name, checkFor, int(checkFor/lifetime), n)
		if n < 3 {
			t.Errorf("%s: %d Renewed events in %v; want at least 3 with a %v lease", m.p.name, n, checkFor, lifetime)
		}
		for _, kind := range []string{"Lost", "Failed"} {
			if n := m.p.events(kind); n > 0 {
				t.Errorf("%s: %d %s events; want none (messages: %s)", m.p.name, n, kind, m.p.dump())
			}
		}
	}
	if controlGone == 0 {
		t.Fatalf("the unrenewed %v NAT-PMP mapping %v was still reachable %v after its client died", lifetime, control.ext, time.Since(killed).Round(time.Millisecond))
	}
	t.Logf("the unrenewed mapping was gone %v after its client died", controlGone.Round(time.Millisecond))
}

// probeStrict probes a TCP mapping that must exist: a refusal (the router
// has no such mapping) fails at once; a timeout, which a loaded test machine
// can cause, gets up to two more tries.
func probeStrict(ctx context.Context, lab *netlab.Lab, addr netip.AddrPort) error {
	var err error
	for try := 0; try < 3; try++ {
		if _, err = probe(ctx, lab, "tcp", addr); err == nil || errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
	}
	return err
}
