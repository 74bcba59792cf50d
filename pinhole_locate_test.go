package upnpmap

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// ssdp6Responder answers unicast M-SEARCHes on [::1]:1900 with the fake's
// current IPv6 LOCATION (gatewaytest answers SSDP over IPv4 only) and
// counts them.
func ssdp6Responder(t *testing.T, gw *gatewaytest.Gateway) *atomic.Int32 {
	t.Helper()
	pc, err := net.ListenPacket("udp6", "[::1]:1900")
	if err != nil {
		t.Fatalf("SSDP responder on [::1]:1900: %v", err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go answerSearches(pc, gw, &n, done)
	return &n
}

func answerSearches(pc net.PacketConn, gw *gatewaytest.Gateway, n *atomic.Int32, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 2048)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if !strings.HasPrefix(string(buf[:k]), "M-SEARCH ") {
			continue
		}
		n.Add(1)
		reply := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\n" +
			"LOCATION: " + gw.LocationURL6() + "\r\nSERVER: test/1 UPnP/1.1 test/1\r\n" +
			"ST: upnp:rootdevice\r\nUSN: uuid:00000000-0000-0000-0000-000000000006::upnp:rootdevice\r\n\r\n"
		pc.WriteTo([]byte(reply), from)
	}
}

// With Location6 given, a reboot that moves the router's IPv6 HTTP port is
// followed by a unicast SSDP search over IPv6 to Location6's host, and the
// pinhole is re-opened at the control URL the new description names.
func TestPinholeLocationFoundAgainBySSDP6(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	searches := ssdp6Responder(t, gw)
	c.PollInterval = pinholePoll
	m := mustMap(t, c, Request{InternalPort: 5103, Lifetime: time.Hour, Family: IPv6})
	if n := searches.Load(); n != 0 {
		t.Fatalf("%d searches before the reboot (Location6 is given)", n)
	}
	gw.Reboot()
	wantPinholeBack(t, gw, m, 5103)
	if n := searches.Load(); n < 1 {
		t.Error("no SSDP search over IPv6")
	}
	if m.Location() != gw.LocationURL6() {
		t.Errorf("Location %q, want %q", m.Location(), gw.LocationURL6())
	}
}

// Nobody answering the IPv6 search: the IPv4 description, searched for
// again, lends its port to Location6's host (miniupnpd serves both families
// on one port; the fake does not, so that fails too), and the check's
// error says the control URL is unreachable.
func TestPinholeLocationNotFound(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	c.RequestTimeout = 500 * time.Millisecond
	c.PollInterval = pinholePoll
	m := mustMap(t, c, Request{InternalPort: 5104, Lifetime: time.Hour, Family: IPv6})
	ssdp := gw.Requests(gatewaytest.SSDP)
	gw.Reboot()
	ev := waitFor(t, m, Failed)
	if !errors.Is(ev.Err, ErrNoGateway) {
		t.Errorf("check failed with %v, want the control URL unreachable", ev.Err)
	}
	if gw.Requests(gatewaytest.SSDP) == ssdp {
		t.Error("the IPv4 description was not searched for")
	}
}

// The IPv4 fallback moves the IPv4 description URL, port and path, to
// Location6's host.
func TestFindLocation6FromIPv4(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	c.search6 = func(context.Context, netip.Addr) (*url.URL, error) { return nil, ErrTimeout }
	m := mustMap(t, c, Request{InternalPort: 5105, Lifetime: time.Hour, Family: IPv6})
	loc, err := m.gw.findLocation6(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := "http://[::1]:" + strconv.Itoa(int(gw.HTTPAddr().Port())) + "/rootDesc.xml"
	if loc.String() != want {
		t.Errorf("moved location %v, want %v", loc, want)
	}
}
