package upnpmap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// pcpAnnounce is the unsolicited PCP ANNOUNCE response a server multicasts
// when it starts (RFC 6887 §14.1.1): version 2, R bit and opcode 0, result 0,
// lifetime 0, the epoch, 12 reserved bytes.
func pcpAnnounce(epoch uint32) []byte {
	b := make([]byte, 24)
	b[0], b[1] = 2, 0x80
	binary.BigEndian.PutUint32(b[8:], epoch)
	return b
}

// TestGatewayNATPMPRestoredByPCPAnnounce: miniupnpd 2.3.1 announces its
// start with a PCP ANNOUNCE only, no NAT-PMP announcement. A Client that
// maps by NAT-PMP alone must still act on it: renew at once, find that the
// gateway lost its state and restore the mapping.
func TestGatewayNATPMPRestoredByPCPAnnounce(t *testing.T) {
	var sc shiftClock
	// The Client listens where the gateway sends nothing: the test delivers
	// the one announcement miniupnpd would send.
	gw := gatewaytest.New(t, gatewaytest.Config{Now: sc.Now})
	sc.Shift(time.Hour) // the router has been up for an hour
	c := &Client{Gateway: gw.Addr(), AnnounceAddr: freeAnnounceAddr(t), Methods: []Method{NATPMP}}
	m := mustMap(t, c, Request{InternalPort: 5400, Lifetime: time.Hour})
	g := m.gw

	gw.Reboot()
	noEvent(t, m) // nothing told the Client yet
	var st annState
	g.onAnnouncement(&st, pcpAnnounce(gw.Epoch()))
	ev := waitFor(t, m, Lost)
	if !errors.Is(ev.Err, errGatewayReset) {
		t.Fatalf("lost: %v", ev.Err)
	}
	waitFor(t, m, Restored)
	if e, ok := entry(gw, "TCP", m.External().Port()); !ok || e.Method != gatewaytest.NATPMP {
		t.Fatalf("not restored on the gateway: %+v", gw.Mappings())
	}
}

// TestResetSeenByOneProtocolRestoresAll: an epoch reset seen through one
// protocol means the gateway lost its state: the other epoch protocol's
// mappings are restored at once too, and UPnP mappings are checked (and
// restored when gone).
func TestResetSeenByOneProtocolRestoresAll(t *testing.T) {
	pcpF, pmpF, upF := newFake(PCP), newFake(NATPMP), newFake(UPnP)
	c, fc := fakeClient(t, pcpF, pmpF, upF)
	viaPCP := mustMap(t, c, Request{InternalPort: 1000, Lifetime: 100 * time.Second})
	pcpF.set(func(f *fakeMapper) { f.mapErrs = []error{errFake} })
	viaPMP := mustMap(t, c, Request{InternalPort: 2000, Lifetime: 1000 * time.Second})
	pcpF.set(func(f *fakeMapper) { f.mapErrs = []error{errFake} })
	pmpF.set(func(f *fakeMapper) { f.mapErrs = []error{errFake} })
	viaUPnP := mustMap(t, c, Request{InternalPort: 3000, Lifetime: 1000 * time.Second})
	if viaPCP.Method() != PCP || viaPMP.Method() != NATPMP || viaUPnP.Method() != UPnP {
		t.Fatalf("methods %v %v %v", viaPCP.Method(), viaPMP.Method(), viaUPnP.Method())
	}

	// The router rebooted; the PCP mapping's renewal is the first to hear.
	pcpF.set(func(f *fakeMapper) { f.reset = true })
	upF.set(func(f *fakeMapper) { delete(f.table, 3000) })
	fc.AdvanceTo(fc.Next(t, time.Hour))
	wantEvents(t, viaPCP, Lost, Restored)
	evs := wantEvents(t, viaPMP, Lost, Restored)
	if !errors.Is(evs[0].Err, errGatewayReset) {
		t.Fatalf("NAT-PMP lost: %v", evs[0].Err)
	}
	wantEvents(t, viaUPnP, Lost, Restored)
	if pmpF.count("renew") != 1 || upF.count("check") != 1 {
		t.Fatalf("NAT-PMP renewals %d, UPnP checks %d", pmpF.count("renew"), upF.count("check"))
	}
	noEvent(t, viaPCP)
	noEvent(t, viaPMP)
	noEvent(t, viaUPnP)
}

// TestAnnouncementEpochSaysNew: within the quiet period after one
// announcement, another that shows an epoch reset is news (a reboot after
// an address change), not a copy, even when no protocol client could judge
// it.
func TestAnnouncementEpochSaysNew(t *testing.T) {
	f := newFake(NATPMP)
	c, fc := fakeClient(t, fakeAnnouncee{f})
	m := mustMap(t, c, Request{InternalPort: 1000, Lifetime: time.Hour})
	var st annState
	m.gw.onAnnouncement(&st, []byte("epoch:3600"))
	wantEvents(t, m, Renewed)
	// A copy, 5 s later: the epoch moved on with the clock.
	fc.Advance(5 * time.Second)
	m.gw.onAnnouncement(&st, []byte("epoch:3605"))
	noEvent(t, m)
	// 5 s later again, the epoch starts over: the gateway rebooted.
	fc.Advance(5 * time.Second)
	m.gw.onAnnouncement(&st, []byte("epoch:0"))
	wantEvents(t, m, Renewed)
	if n := f.count("renew"); n != 2 {
		t.Fatalf("%d renewals, want 2", n)
	}
}

// TestGatewayAnnouncementBurstConfirmedOnce: a reboot announced by a burst
// (the router's own copies, then fifty more) is confirmed by one external
// address request, and each mapping is re-created once: five NAT-PMP
// requests for two mappings, whatever the burst's length.
func TestGatewayAnnouncementBurstConfirmedOnce(t *testing.T) {
	var sc shiftClock
	gw, c := testGateway(t, gatewaytest.Config{Now: sc.Now}, NATPMP)
	sc.Shift(time.Hour) // the router has been up for an hour
	a := mustMap(t, c, Request{InternalPort: 5600, Lifetime: time.Hour})
	b := mustMap(t, c, Request{InternalPort: 5601, Lifetime: time.Hour})
	waitListening(t, a)
	before := gw.Requests(gatewaytest.NATPMP)
	gw.Reboot() // announces three times, 20 and 40 ms apart
	<-gw.AnnounceBurst(50, 2*time.Millisecond, gw.Epoch())
	waitFor(t, a, Restored)
	waitFor(t, b, Restored)
	// Bounded real time for stray requests the burst might still cause.
	time.Sleep(2 * announceBurstGap)
	if n := gw.Requests(gatewaytest.NATPMP) - before; n != 5 {
		t.Fatalf("%d NAT-PMP requests after the burst, want 5: one confirmation, and an external address request and a MAP per mapping", n)
	}
	if n := gw.Requests(gatewaytest.PCP); n != 0 {
		t.Fatalf("%d PCP requests from a Client that maps by NAT-PMP", n)
	}
}

// TestGatewayAnnouncementFlood: a LAN host floods 224.0.0.1:5350 with
// announcements from the gateway's address that claim a reboot (epoch 0),
// 200 a second for longer than the lease. Each stretch of the flood is
// confirmed once; the router's answer shows no reboot, so the mapping is
// renewed on its schedule (not starved by ever later re-maps, as under PCP
// before), is never lost, and the router sees a handful of requests (not
// 137 a second, as under NAT-PMP before). RFC 6887 §14.1's random delay
// applies, once.
func TestGatewayAnnouncementFlood(t *testing.T) {
	const lease = 8 * time.Second
	for _, method := range []Method{PCP, NATPMP} {
		t.Run(string(method), func(t *testing.T) {
			t.Parallel()
			gw, c := testGateway(t, gatewaytest.Config{}, method)
			c.announceJitter = nil // the real RFC 6887 delay before confirming
			m := mustMap(t, c, Request{InternalPort: 5700, Lifetime: lease})
			waitListening(t, m)
			stop := make(chan struct{})
			counts := make(chan map[EventKind]int, 1)
			go drain(m, stop, counts)
			start := time.Now()
			<-gw.AnnounceBurst(int(lease/time.Second)*250, 5*time.Millisecond, 0) // 1.25 leases
			close(stop)
			elapsed := time.Since(start) // more than 10 s on a loaded host
			ev := <-counts
			n := gw.Requests(string(method))
			t.Logf("%d %s requests in %v; events %v", n, method, elapsed.Round(time.Millisecond), ev)
			if ev[Lost] != 0 {
				t.Fatalf("the mapping was lost during the flood: events %v", ev)
			}
			e, ok := entry(gw, "TCP", m.External().Port())
			if !ok || !e.Expires.After(time.Now()) {
				t.Fatalf("the mapping is gone from the router after the flood: %+v", gw.Mappings())
			}
			// Map, then renewals every 4 s or so, and a confirmation (and a
			// renewal) per stretch of the flood (a loaded host that stalls
			// the flood makes more stretches): at most one exchange a
			// second (NAT-PMP's are two requests), where the flood once
			// drew 137 requests a second.
			perExchange := 1
			if method == NATPMP {
				perExchange = 2
			}
			if most := 3 + perExchange*int(elapsed/time.Second); n > most {
				t.Fatalf("%d %s requests in %v of flood, want at most %d", n, method, elapsed, most)
			}
		})
	}
}

// TestGatewayAnnouncementNewAddressWithinBurst: a router announces (its old
// address), then changes its external address moments later and announces
// the new one within the same burst, as miniupnpd did in the lab after a
// WAN change. The burst was confirmed already, but the new address is news:
// it is confirmed too, and the mapping reports the change.
func TestGatewayAnnouncementNewAddressWithinBurst(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	m := mustMap(t, c, Request{InternalPort: 5602, Lifetime: time.Hour})
	waitListening(t, m)
	<-gw.AnnounceBurst(3, 2*time.Millisecond, gw.Epoch()) // confirmed: nothing new
	gw.SetExternalAddr(netip.MustParseAddr("203.0.113.99"))
	ev := waitFor(t, m, ExternalAddressChanged)
	if got := ev.External.Addr(); got != netip.MustParseAddr("203.0.113.99") {
		t.Fatalf("ExternalAddressChanged to %v, want 203.0.113.99", got)
	}
}
