package upnpmap

import (
	"encoding/binary"
	"errors"
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
