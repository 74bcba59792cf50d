package upnpmap

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// genaGateway is a UPnP-only gateway with eventing on and a Client that
// would not poll within a test's lifetime. The gateway sends no NAT-PMP or
// PCP announcements (they would make the UPnP mapping check the router, and
// hide what the events do).
func genaGateway(t *testing.T) (*gatewaytest.Gateway, *Client) {
	t.Helper()
	gw := gatewaytest.New(t, gatewaytest.Config{DisableNATPMP: true, DisablePCP: true})
	gw.SetEventing(true)
	c := &Client{
		Gateway:        gw.Addr(),
		AnnounceAddr:   freeAnnounceAddr(t),
		Methods:        []Method{UPnP},
		ProbeTimeout:   testProbeTimeout,
		RequestTimeout: 2 * time.Second,
		CloseTimeout:   2 * time.Second,
		PollInterval:   time.Hour,
		settleAfter:    time.Millisecond,
	}
	return gw, c
}

// waitSubscribed waits (bounded) until the gateway has n subscribers and
// the mapping's subscriber knows its SID, and returns the subscription.
func waitSubscribed(t *testing.T, gw *gatewaytest.Gateway, m *Mapping) gatewaytest.Subscriber {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if subs := gw.Subscribers(); len(subs) == 1 {
			if s := m.gw.subscription(); s != nil {
				s.mu.Lock()
				sid := s.sid
				s.mu.Unlock()
				if sid == subs[0].SID {
					return subs[0]
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("not subscribed within 10 s: %+v", gw.Subscribers())
	return gatewaytest.Subscriber{}
}

func TestGENAExternalAddressEvent(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4300, Lifetime: time.Hour})
	sub := waitSubscribed(t, gw, m)
	if h, _, _ := strings.Cut(strings.TrimPrefix(sub.Callback, "http://"), ":"); h == "0.0.0.0" || h != m.gw.local.String() {
		t.Fatalf("callback %s, want one on the local address %v", sub.Callback, m.gw.local)
	}
	polls := gw.Requests("GetExternalIPAddress")

	newAddr := netip.MustParseAddr("198.51.100.21")
	gw.SetExternalAddr(newAddr)
	ev := waitFor(t, m, ExternalAddressChanged)
	if ev.External.Addr() != newAddr || m.External().Addr() != newAddr {
		t.Fatalf("event %v, mapping %v; want %v", ev.External, m.External(), newAddr)
	}
	if n := gw.Requests("GetExternalIPAddress") - polls; n != 0 {
		t.Errorf("%d GetExternalIPAddress requests after the change; the event should need none", n)
	}
}

func TestGENANotifyFromElsewhereIgnored(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4301, Lifetime: time.Hour})
	sub := waitSubscribed(t, gw, m)

	// A NOTIFY with the right SID and the next SEQ, from another loopback
	// address: a LAN host trying to move our idea of the address.
	body := `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><ExternalIPAddress>192.0.2.66</ExternalIPAddress></e:property></e:propertyset>`
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 250)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	req, _ := http.NewRequestWithContext(context.Background(), "NOTIFY", sub.Callback, strings.NewReader(body))
	req.Header.Set("NT", "upnp:event")
	req.Header.Set("NTS", "upnp:propchange")
	req.Header.Set("SID", sub.SID)
	req.Header.Set("SEQ", "1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("NOTIFY from 127.0.0.250: HTTP %d, want 403", resp.StatusCode)
	}
	if got := m.External().Addr(); got != gatewaytest.DefaultExternalAddr {
		t.Fatalf("external address %v after a foreign NOTIFY, want %v", got, gatewaytest.DefaultExternalAddr)
	}
	// The real gateway's next event still counts as SEQ 1, no gap.
	polls := gw.Requests("GetExternalIPAddress")
	newAddr := netip.MustParseAddr("198.51.100.22")
	gw.SetExternalAddr(newAddr)
	if ev := waitFor(t, m, ExternalAddressChanged); ev.External.Addr() != newAddr {
		t.Fatalf("event %v, want %v", ev.External, newAddr)
	}
	if n := gw.Requests("GetExternalIPAddress") - polls; n != 0 {
		t.Errorf("%d re-reads; the foreign NOTIFY must not count as an event", n)
	}
}

func TestGENASeqGapRereads(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4302, Lifetime: time.Hour})
	waitSubscribed(t, gw, m)
	polls := gw.Requests("GetExternalIPAddress")

	gw.SkipEventSeq()
	newAddr := netip.MustParseAddr("198.51.100.23")
	gw.SetExternalAddr(newAddr)
	if ev := waitFor(t, m, ExternalAddressChanged); ev.External.Addr() != newAddr {
		t.Fatalf("event %v, want %v", ev.External, newAddr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gw.Requests("GetExternalIPAddress")-polls < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := gw.Requests("GetExternalIPAddress") - polls; n != 1 {
		t.Fatalf("%d GetExternalIPAddress re-reads after a SEQ gap, want 1", n)
	}
}

func TestGENARenewsSubscription(t *testing.T) {
	gw, c := genaGateway(t)
	gw.SetEventTimeout(2 * time.Second) // renewed after 1 s (half the grant)
	m := mustMap(t, c, Request{InternalPort: 4303, Lifetime: time.Hour})
	sub := waitSubscribed(t, gw, m)
	deadline := time.Now().Add(10 * time.Second)
	for gw.EventRequests(gatewaytest.GENARenew) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := gw.EventRequests(gatewaytest.GENARenew); n < 1 {
		t.Fatal("the subscription was not renewed within 10 s of a 2 s grant")
	}
	if subs := gw.Subscribers(); len(subs) != 1 || subs[0].SID != sub.SID {
		t.Fatalf("after renewal: %+v, want the same SID %s", subs, sub.SID)
	}
	if n := gw.EventRequests(gatewaytest.GENASubscribe); n != 1 {
		t.Errorf("%d new SUBSCRIBEs, want 1 (renewals keep the SID)", n)
	}
}

func TestGENACloseUnsubscribes(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4304, Lifetime: time.Hour})
	sub := waitSubscribed(t, gw, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := gw.EventRequests(gatewaytest.GENAUnsubscribe); n != 1 {
		t.Fatalf("%d UNSUBSCRIBEs after Close, want 1", n)
	}
	if subs := gw.Subscribers(); len(subs) != 0 {
		t.Fatalf("subscribers after Close: %+v", subs)
	}
	// The callback listener is closed too.
	if conn, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(sub.Callback, "http://"), "/"), time.Second); err == nil {
		conn.Close()
		t.Fatal("the callback listener still accepts after Close")
	}
}

func TestGENARouterWithoutEventingPolls(t *testing.T) {
	gw, c := genaGateway(t)
	gw.SetEventing(false) // SUBSCRIBE meets 404
	c.PollInterval = 50 * time.Millisecond
	m := mustMap(t, c, Request{InternalPort: 4305, Lifetime: time.Hour})
	var sub *subscriber
	deadline := time.Now().Add(10 * time.Second)
	for sub == nil && time.Now().Before(deadline) {
		sub = m.gw.subscription()
		time.Sleep(5 * time.Millisecond)
	}
	if sub == nil {
		t.Fatal("no subscriber started for the UPnP mapping")
	}
	select {
	case <-sub.done: // gave up after the 404: polling only
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber still runs against a router that does not event")
	}
	newAddr := netip.MustParseAddr("198.51.100.24")
	gw.SetExternalAddr(newAddr)
	if ev := waitFor(t, m, ExternalAddressChanged); ev.External.Addr() != newAddr {
		t.Fatalf("polled event %v, want %v", ev.External, newAddr)
	}
}

// TestGENANoSecondDescriptionRead: the subscription uses the eventSubURL
// the located description gave; subscribing reads nothing more.
func TestGENANoSecondDescriptionRead(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4306, Lifetime: time.Hour})
	sub := waitSubscribed(t, gw, m)
	if n := gw.Requests("description"); n != 1 {
		t.Errorf("%d description reads for Map and the subscription, want 1", n)
	}
	u := m.gw.mapper(UPnP).(*upnpMapper)
	u.mu.Lock()
	ev := u.eventURL
	u.mu.Unlock()
	if ev == nil || ev.Hostname() != gw.Addr().String() || sub.SID == "" {
		t.Fatalf("eventSubURL %v (gateway %v), SID %q", ev, gw.Addr(), sub.SID)
	}
}

// TestGENAResolveRefuses: no eventSubURL means no eventing (polling only),
// and one off the gateway is never subscribed to.
func TestGENAResolveRefuses(t *testing.T) {
	gw, c := genaGateway(t)
	m := mustMap(t, c, Request{InternalPort: 4307, Lifetime: time.Hour})
	waitSubscribed(t, gw, m)
	s := m.gw.subscription()
	u := m.gw.mapper(UPnP).(*upnpMapper)
	for _, tc := range []struct {
		name string
		ev   string
	}{{"none", ""}, {"another host", "http://192.0.2.9/evt"}, {"https", "https://" + gw.Addr().String() + "/evt"}} {
		var ev *url.URL
		if tc.ev != "" {
			ev, _ = url.Parse(tc.ev)
		}
		u.mu.Lock()
		u.eventURL = ev
		u.mu.Unlock()
		if got, err := s.resolve(); !errors.Is(err, errNoEvents) {
			t.Errorf("%s: resolve = %q, %v; want errNoEvents", tc.name, got, err)
		}
	}
}

// TestGENASubscribeThroughGovernor: a SUBSCRIBE is one more exchange with
// the router, so it passes the gateway's governor like the rest (issue 21:
// "every request to one router goes through it"): with the bucket empty, a
// re-subscription asked for (as an SSDP NOTIFY would) waits for a token on
// the Client's clock, then goes out once.
func TestGENASubscribeThroughGovernor(t *testing.T) {
	gw, c := genaGateway(t)
	fc := newFakeClock()
	c.clk = fc
	m := mustMap(t, c, Request{InternalPort: 4310, Lifetime: time.Hour})
	waitSubscribed(t, gw, m)
	subscribes := func() int {
		return gw.EventRequests(gatewaytest.GENASubscribe) + gw.EventRequests(gatewaytest.GENARenew)
	}
	before := subscribes()
	for m.gw.gov.take() == 0 { // empty the bucket; the fake clock refills nothing
	}
	m.gw.subscription().resubscribe()
	// Bounded real time in which an ungoverned SUBSCRIBE would have gone out.
	time.Sleep(300 * time.Millisecond)
	if n := subscribes() - before; n != 0 {
		t.Fatalf("%d SUBSCRIBEs reached the router with the governor's bucket empty", n)
	}
	// The governor's wait for one token (half a second at 2 a second) is
	// the only timer due within a second; step the clock to it.
	fc.AdvanceTo(fc.Next(t, time.Second))
	deadline := time.Now().Add(10 * time.Second)
	for subscribes() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := subscribes() - before; n != 1 {
		t.Fatalf("%d SUBSCRIBEs after one token, want 1", n)
	}
}
