package upnpmap

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// ssdpGateway is a UPnP-only gateway (no NAT-PMP or PCP announcements,
// which would make the mappings check the router and hide what the
// NOTIFYs do), sending its SSDP NOTIFYs to the Client's listener on a
// loopback address, and a Client that would not poll within a test.
func ssdpGateway(t *testing.T) (*gatewaytest.Gateway, *Client) {
	t.Helper()
	gw := gatewaytest.New(t, gatewaytest.Config{DisableNATPMP: true, DisablePCP: true})
	c := &Client{
		Gateway:        gw.Addr(),
		AnnounceAddr:   freeAnnounceAddr(t),
		Methods:        []Method{UPnP},
		ProbeTimeout:   testProbeTimeout,
		RequestTimeout: 2 * time.Second,
		CloseTimeout:   2 * time.Second,
		PollInterval:   time.Hour,
		settleAfter:    time.Millisecond,
		ssdpNotifyAddr: freeAnnounceAddr(t),
	}
	gw.SetSSDPNotifyTo(c.ssdpNotifyAddr)
	return gw, c
}

// waitWatcher waits (bounded) until m's gateway listens for NOTIFYs and
// m's read-back after Map (a GetSpecificPortMappingEntry, see settle) is
// done, so that the tests count the checks the NOTIFYs cause alone.
func waitWatcher(t *testing.T, m *Mapping) *ssdpWatcher {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.gw.mu.Lock()
		w := m.gw.ssdp
		m.gw.mu.Unlock()
		if w != nil && !m.grant().unverified {
			return w
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no SSDP NOTIFY listener within 10 s of Map")
	return nil
}

// waitCount waits (bounded) until count() reaches want and returns it.
func waitCount(t *testing.T, what string, want int64, count func() int64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for count() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n := count()
	if n < want {
		t.Fatalf("%s: %d within 10 s, want %d", what, n, want)
	}
	return n
}

// captureNotify reads the NOTIFYs of one round sent to c (bounded).
func captureNotify(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(out) < n {
		k, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d NOTIFYs: %v", len(out), err)
		}
		out = append(out, append([]byte(nil), buf[:k]...))
	}
	return out
}

func TestSSDPNotifyRebootRecreates(t *testing.T) {
	gw, c := ssdpGateway(t)
	gw.SetRebootKeepsPort(true) // nothing but BOOTID says it restarted
	m := mustMap(t, c, Request{InternalPort: 4400, Lifetime: time.Hour})
	w := waitWatcher(t, m)
	read := w.read.Load()
	gw.SendAlive() // BOOTID 1: the baseline
	// The listener reads one datagram after another: once it has read the
	// round's third, it has handled the first, so BOOTID 1 is its baseline
	// before the reboot's BOOTID 2 comes (else it took 2 as the baseline).
	waitCount(t, "baseline NOTIFYs read", read+3, w.read.Load)
	adds, searches := gw.Requests("AddPortMapping"), gw.Requests(gatewaytest.SSDP)

	gw.Reboot() // the table is gone; ssdp:alive with BOOTID 2
	lost := waitFor(t, m, Lost)
	restored := waitFor(t, m, Restored)
	if lost.External != restored.External || restored.External != m.External() {
		t.Errorf("Lost %v, Restored %v, mapping %v", lost.External, restored.External, m.External())
	}
	if n := gw.Requests("AddPortMapping") - adds; n != 1 {
		t.Errorf("%d AddPortMapping after the reboot, want 1", n)
	}
	if n := gw.Requests(gatewaytest.SSDP) - searches; n != 0 {
		t.Errorf("%d M-SEARCH after the reboot; the NOTIFY's LOCATION should need none", n)
	}
	if len(gw.Mappings()) != 1 {
		t.Errorf("router table after the reboot: %v", gw.Mappings())
	}
	if n := w.acted.Load(); n != 1 {
		t.Errorf("acted on %d NOTIFYs, want 1 (the first of the reboot's round)", n)
	}
}

func TestSSDPNotifyFromElsewhereIgnored(t *testing.T) {
	gw, c := ssdpGateway(t)
	spy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	gw.SetSSDPNotifyTo(c.ssdpNotifyAddr, spy.LocalAddr().(*net.UDPAddr).AddrPort())
	m := mustMap(t, c, Request{InternalPort: 4401, Lifetime: time.Hour})
	w := waitWatcher(t, m)
	gw.SendAlive() // the baseline, and a genuine round to replay
	genuine := captureNotify(t, spy, 3)
	descs, checks := gw.Requests("description"), gw.Requests("GetSpecificPortMappingEntry")

	// The same NOTIFYs with a new BOOTID, from another LAN host: they
	// would mean a restart (re-read, check) if they came from the gateway.
	from, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 250)})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to := net.UDPAddrFromAddrPort(c.ssdpNotifyAddr)
	for _, b := range genuine {
		forged := bytes.Replace(b, []byte("BOOTID.UPNP.ORG: 1"), []byte("BOOTID.UPNP.ORG: 77"), 1)
		if _, err := from.WriteToUDP(forged, to); err != nil {
			t.Fatal(err)
		}
	}
	// Then the gateway's own byebye: one check.
	gw.SendByeBye()
	const sent = 3 + 3 + 3 // alive, forged, byebye
	waitCount(t, "datagrams read", sent, w.read.Load)
	waitCount(t, "checks", int64(checks+1), func() int64 { return int64(gw.Requests("GetSpecificPortMappingEntry")) })
	if n := gw.Requests("description") - descs; n != 0 {
		t.Errorf("%d description reads: the forged restart was believed", n)
	}
	if n := w.acted.Load(); n != 1 {
		t.Errorf("acted on %d NOTIFYs, want 1 (the gateway's byebye)", n)
	}
	if n := gw.Requests("GetSpecificPortMappingEntry") - checks; n != 1 {
		t.Errorf("%d checks, want 1", n)
	}
}

func TestSSDPNotifyFloodOneCheck(t *testing.T) {
	gw, c := ssdpGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4402, Lifetime: time.Hour})
	w := waitWatcher(t, m)
	checks := gw.Requests("GetSpecificPortMappingEntry")
	// 30 rounds of byebye (90 datagrams, beyond ssdpNotifyMaxRate) from the
	// gateway's address, as fast as the socket takes them.
	const rounds = 30
	for range rounds {
		gw.SendByeBye()
	}
	waitCount(t, "datagrams read", 3*rounds, w.read.Load)
	waitCount(t, "checks", int64(checks+1), func() int64 { return int64(gw.Requests("GetSpecificPortMappingEntry")) })
	if n := w.acted.Load(); n != 1 {
		t.Errorf("a flood of %d byebyes was acted on %d times, want 1", 3*rounds, n)
	}
	if n := gw.Requests("GetSpecificPortMappingEntry") - checks; n != 1 {
		t.Errorf("%d checks after the flood, want 1", n)
	}
}

func TestSSDPNotifyConfigIDRereads(t *testing.T) {
	gw, c := ssdpGateway(t)
	gw.SetEventing(true)
	m := mustMap(t, c, Request{InternalPort: 4403, Lifetime: time.Hour})
	waitWatcher(t, m)
	waitSubscribed(t, gw, m)
	gw.SendAlive() // CONFIGID 1: the baseline
	descs, searches := gw.Requests("description"), gw.Requests(gatewaytest.SSDP)
	renews := gw.EventRequests(gatewaytest.GENARenew)

	gw.ChangeConfig() // the control URL moves; CONFIGID 2
	waitCount(t, "description reads", int64(descs+1), func() int64 { return int64(gw.Requests("description")) })
	// The subscription follows the description (its SID lives on).
	waitCount(t, "GENA renewals", int64(renews+1), func() int64 { return int64(gw.EventRequests(gatewaytest.GENARenew)) })
	// Close reaches the new control URL without searching again.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := gw.Requests(gatewaytest.SSDP) - searches; n != 0 {
		t.Errorf("%d M-SEARCH after the CONFIGID change, want 0", n)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("Close left %v on the router", gw.Mappings())
	}
}

func TestSSDPNotifyListenerClosedWithLastMapping(t *testing.T) {
	_, c := ssdpGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4404, Lifetime: time.Hour})
	waitWatcher(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.gw.mu.Lock()
	w := m.gw.ssdp
	m.gw.mu.Unlock()
	if w != nil {
		t.Fatal("the NOTIFY listener outlived the last mapping")
	}
	// Its port is free again: nothing holds the socket.
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(c.ssdpNotifyAddr))
	if err != nil {
		t.Fatalf("the listener's address is still taken after Close: %v", err)
	}
	conn.Close()
}

func TestSSDPNotifyLoopbackGatewayJoinsNothing(t *testing.T) {
	gw, c := ssdpGateway(t)
	c.ssdpNotifyAddr = netip.AddrPort{} // as a user's Client: the real group
	m := mustMap(t, c, Request{InternalPort: 4405, Lifetime: time.Hour})
	settled := func() bool { return !m.grant().unverified } // settle opened the listeners first
	deadline := time.Now().Add(10 * time.Second)
	for !settled() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	m.gw.mu.Lock()
	w := m.gw.ssdp
	m.gw.mu.Unlock()
	if w != nil {
		t.Fatalf("a loopback gateway %v got a NOTIFY listener on %v", gw.Addr(), w.conn.LocalAddr())
	}
}

// notifyAt builds a NOTIFY for the decide tests.
func notifyAt(t *testing.T, nts string, boot, config uint32, loc string) *discovery.Notify {
	t.Helper()
	var b strings.Builder
	b.WriteString("NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nUSN: uuid:gw::upnp:rootdevice\r\nNTS: " + nts + "\r\n")
	if loc != "" {
		b.WriteString("LOCATION: " + loc + "\r\n")
	}
	b.WriteString("BOOTID.UPNP.ORG: " + itoa(boot) + "\r\nCONFIGID.UPNP.ORG: " + itoa(config) + "\r\n\r\n")
	n, err := discovery.ParseNotify([]byte(b.String()), netip.MustParseAddrPort("192.168.1.1:1900"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestSSDPDecideBursts(t *testing.T) {
	const loc = "http://192.168.1.1:5000/rootDesc.xml"
	t0 := time.Unix(1e9, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	st := &ssdpState{}
	steps := []struct {
		name string
		n    *discovery.Notify
		at   time.Duration
		want ssdpAction
	}{
		{"first alive: the baseline", notifyAt(t, discovery.NTSAlive, 1, 1, loc), 0, 0},
		{"its copy", notifyAt(t, discovery.NTSAlive, 1, 1, loc), 100 * time.Millisecond, 0},
		{"byebye", notifyAt(t, discovery.NTSByeBye, 1, 1, ""), 5 * time.Second, ssdpCheck},
		{"byebye copy in the burst", notifyAt(t, discovery.NTSByeBye, 1, 1, ""), 5100 * time.Millisecond, 0},
		{"restart in the same burst", notifyAt(t, discovery.NTSAlive, 2, 1, "http://192.168.1.1:5001/rootDesc.xml"), 5200 * time.Millisecond, ssdpCheck | ssdpReread | ssdpRestart},
		{"its copies", notifyAt(t, discovery.NTSAlive, 2, 1, "http://192.168.1.1:5001/rootDesc.xml"), 5300 * time.Millisecond, 0},
		{"another BOOTID in the burst (a spoofer)", notifyAt(t, discovery.NTSAlive, 3, 1, loc), 5400 * time.Millisecond, 0},
		{"new CONFIGID later", notifyAt(t, discovery.NTSAlive, 3, 2, loc), time.Minute, ssdpReread},
		{"byebye in a new burst", notifyAt(t, discovery.NTSByeBye, 3, 2, ""), 2 * time.Minute, ssdpCheck},
		// miniupnpd restarted within one second: the same BOOTID (its
		// start second), a new LOCATION, 60 ms after its byebye.
		{"restart with the same BOOTID", notifyAt(t, discovery.NTSAlive, 3, 2, "http://192.168.1.1:5002/rootDesc.xml"), 2*time.Minute + 60*time.Millisecond, ssdpCheck | ssdpReread | ssdpRestart},
	}
	for _, s := range steps {
		got, _ := st.decide(s.n, loc, at(s.at))
		if got != s.want {
			t.Errorf("%s: action %b, want %b", s.name, got, s.want)
		}
	}
	// A byebye flood that lasts is cut into bursts every announceQuiet:
	// one check per burst.
	st = &ssdpState{}
	checks := 0
	for i := range 1000 {
		if a, _ := st.decide(notifyAt(t, discovery.NTSByeBye, 1, 1, ""), loc, at(time.Duration(i)*100*time.Millisecond)); a&ssdpCheck != 0 {
			checks++
		}
	}
	if want := int(100*time.Second/announceQuiet) + 1; checks > want {
		t.Errorf("a 100 s byebye flood: %d checks, want at most %d", checks, want)
	}
}

func TestSSDPNotifyRateLimit(t *testing.T) {
	st := &ssdpState{}
	now := time.Unix(1e9, 0)
	admitted := 0
	for range 1000 {
		if st.admit(now) {
			admitted++
		}
	}
	if admitted != ssdpNotifyMaxRate {
		t.Fatalf("admitted %d datagrams in one window, want %d", admitted, ssdpNotifyMaxRate)
	}
	if !st.admit(now.Add(ssdpNotifyWindow)) {
		t.Fatal("the next window admits nothing")
	}
}

// TestSSDPNotifyRebootResubscribes: a restarted router has forgotten its
// GENA subscribers; the restart's NOTIFY makes the subscriber subscribe
// again at once (its renewal is refused, a new SUBSCRIBE follows), not at
// the next renewal half an hour later.
func TestSSDPNotifyRebootResubscribes(t *testing.T) {
	gw, c := ssdpGateway(t)
	gw.SetEventing(true)
	m := mustMap(t, c, Request{InternalPort: 4406, Lifetime: time.Hour})
	waitWatcher(t, m)
	old := waitSubscribed(t, gw, m)
	gw.SendAlive() // the baseline
	subs := gw.EventRequests(gatewaytest.GENASubscribe)

	gw.Reboot() // a new BOOTID and HTTP port; the subscribers are gone
	waitFor(t, m, Restored)
	waitCount(t, "new SUBSCRIBEs", int64(subs+1), func() int64 { return int64(gw.EventRequests(gatewaytest.GENASubscribe)) })
	now := waitSubscribed(t, gw, m)
	if now.SID == old.SID {
		t.Fatalf("still subscribed as %s after the reboot", old.SID)
	}
	// The new subscription works: an address change arrives as an event.
	polls := gw.Requests("GetExternalIPAddress")
	newAddr := netip.MustParseAddr("198.51.100.31")
	gw.SetExternalAddr(newAddr)
	if ev := waitFor(t, m, ExternalAddressChanged); ev.External.Addr() != newAddr {
		t.Fatalf("event %v, want %v", ev.External, newAddr)
	}
	if n := gw.Requests("GetExternalIPAddress") - polls; n != 0 {
		t.Errorf("%d GetExternalIPAddress after the change; the event should need none", n)
	}
}
