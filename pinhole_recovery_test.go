package upnpmap

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// pinholePoll is the PollInterval of these tests: a reboot is found by the
// pinhole's own check, which runs at this interval.
const pinholePoll = 20 * time.Millisecond

// wantPinholeBack waits for the pinhole's Lost and then Restored events and
// checks that the gateway holds the pinhole again.
func wantPinholeBack(t *testing.T, gw *gatewaytest.Gateway, m *Mapping, port uint16) {
	t.Helper()
	lost := waitFor(t, m, Lost)
	if !errors.Is(lost.Err, errGone) {
		t.Errorf("Lost because %v", lost.Err)
	}
	if ev := waitFor(t, m, Restored); ev.External != netip.AddrPortFrom(host6, port) {
		t.Errorf("Restored %v", ev.External)
	}
	ps := gw.Pinholes()
	if len(ps) != 1 || ps[0].InternalClient != host6 || ps[0].InternalPort != port {
		t.Fatalf("gateway pinholes after the restoration: %+v", ps)
	}
}

// A PCP pinhole alone (no IPv4 mapping to notice anything) finds a reboot
// by the epoch of its own check's ANNOUNCE, and is opened again. The
// Client listens where the fake sends no announcement: the check alone
// must find the reboot.
func TestPinholeAloneFindsRebootPCP(t *testing.T) {
	var sc shiftClock
	gw, c, _ := dualGateway(t, gatewaytest.Config{Now: sc.Now}, viaPCP, PCP)
	sc.Shift(time.Hour) // the router has been up for an hour
	c.AnnounceAddr = freeAnnounceAddr(t)
	c.PollInterval = pinholePoll
	m := mustMap(t, c, Request{InternalPort: 5100, Lifetime: time.Hour, Family: IPv6})
	maps := gw.Requests(gatewaytest.PCP)
	gw.Reboot()
	if n := len(gw.Pinholes()); n != 0 {
		t.Fatalf("the fake kept %d pinholes over its reboot", n)
	}
	wantPinholeBack(t, gw, m, 5100)
	if gw.Requests(gatewaytest.PCP) <= maps {
		t.Error("no PCP request after the reboot")
	}
	if ps := gw.Pinholes(); ps[0].Nonce != m.Nonce() {
		t.Errorf("gateway holds nonce %x, the Mapping %x", ps[0].Nonce, m.Nonce())
	}
}

// A UPnP pinhole alone finds a reboot that moved the router's HTTP port
// (Location6 given explicitly): its check finds the control URL
// unreachable, locates the description again, learns there that the
// pinhole is gone, and AddPinhole re-opens it at the new control URL.
func TestPinholeAloneFindsRebootUPnPMovedPort(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	c.PollInterval = pinholePoll
	var searches atomic.Int32
	c.search6 = func(_ context.Context, host netip.Addr) (*url.URL, error) {
		searches.Add(1)
		if host != netip.IPv6Loopback() {
			t.Errorf("searched %v, not Location6's host", host)
		}
		return url.Parse(gw.LocationURL6())
	}
	m := mustMap(t, c, Request{InternalPort: 5101, Lifetime: time.Hour, Family: IPv6})
	old := gw.LocationURL6()
	adds := gw.Requests("AddPinhole")
	gw.Reboot()
	if gw.LocationURL6() == old {
		t.Fatal("the fake's IPv6 description did not move")
	}
	wantPinholeBack(t, gw, m, 5101)
	if n := gw.Requests("AddPinhole") - adds; n != 1 {
		t.Errorf("AddPinhole sent %d times after the reboot, want 1", n)
	}
	if n := searches.Load(); n != 1 {
		t.Errorf("searched for the description %d times, want 1", n)
	}
	if got := m.Location(); got != gw.LocationURL6() {
		t.Errorf("Location %q, want the moved %q", got, gw.LocationURL6())
	}
	// The pinhole is kept at its new control URL: Close removes it there.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(gw.Pinholes()); n != 0 {
		t.Errorf("%d pinholes after Close", n)
	}
}

// Without a reboot, the UPnP pinhole's check is one GetPinholePackets per
// poll and changes nothing.
func TestPinholeCheckQuiet(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	c.PollInterval = pinholePoll
	m := mustMap(t, c, Request{InternalPort: 5102, Lifetime: time.Hour, Family: IPv6})
	deadline := time.Now().Add(10 * time.Second)
	for gw.Requests("GetPinholePackets") < 3 && time.Now().Before(deadline) {
		time.Sleep(pinholePoll)
	}
	if n := gw.Requests("GetPinholePackets"); n < 3 {
		t.Fatalf("%d checks sent", n)
	}
	if n := gw.Requests("AddPinhole"); n != 1 {
		t.Errorf("AddPinhole sent %d times without a reboot", n)
	}
	noEvent(t, m)
}
