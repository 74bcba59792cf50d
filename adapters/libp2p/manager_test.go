package libp2p_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	swarmt "github.com/libp2p/go-libp2p/p2p/net/swarm/testing"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	upnpmaplibp2p "github.com/upnpmap/upnpmap/adapters/libp2p"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// listen makes sw listen on addr (with port 0) and returns the port it got.
func listen(t *testing.T, sw *swarm.Swarm, addr string) uint16 {
	t.Helper()
	before := map[string]bool{}
	for _, a := range sw.ListenAddresses() {
		before[a.String()] = true
	}
	if err := sw.Listen(ma.StringCast(addr)); err != nil {
		t.Fatal(err)
	}
	for _, a := range sw.ListenAddresses() {
		if before[a.String()] || len(a) < 2 || (a[0].Value() != "0.0.0.0" && a[0].Value() != "::") {
			continue
		}
		if port, err := strconv.ParseUint(a[1].Value(), 10, 16); err == nil {
			return uint16(port)
		}
	}
	t.Fatalf("no new listen address for %s among %v", addr, sw.ListenAddresses())
	return 0
}

// newSwarm is a libp2p network listening, as test swarms do, on loopback
// only (addresses a NAT manager leaves alone).
func newSwarm(t *testing.T) *swarm.Swarm {
	sw := swarmt.GenSwarm(t, swarmt.OptDisableWebTransport, swarmt.OptDisableWebRTC)
	t.Cleanup(func() { sw.Close() })
	return sw
}

func mappingOf(m *upnpmaplibp2p.Manager, addr string) string {
	if a := m.GetMapping(ma.StringCast(addr)); a != nil {
		return a.String()
	}
	return "<nil>"
}

func eventuallyMapping(t *testing.T, m *upnpmaplibp2p.Manager, addr, want string) {
	t.Helper()
	testgw.Eventually(t, fmt.Sprintf("GetMapping(%s) = %s (is %s)", addr, want, mappingOf(m, addr)), func() bool {
		return mappingOf(m, addr) == want
	})
}

func TestMapsListenAddresses(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	sw := newSwarm(t)
	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	udp := listen(t, sw, "/ip4/0.0.0.0/udp/0/quic-v1")
	m := upnpmaplibp2p.New(sw, c)
	defer m.Close()

	testgw.Eventually(t, "both ports mapped", func() bool {
		_, t1 := testgw.Has(gw, "TCP", tcp, tcp)
		_, u1 := testgw.Has(gw, "UDP", udp, udp)
		return t1 && u1
	})
	// The router shows an entry as soon as it made it, before the manager
	// has read the answer: wait for the manager to know both too.
	eventuallyMapping(t, m, fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp), fmt.Sprintf("/ip4/%s/tcp/%d", gatewaytest.DefaultExternalAddr, tcp))
	eventuallyMapping(t, m, fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", udp), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", gatewaytest.DefaultExternalAddr, udp))
	if !m.HasDiscoveredNAT() {
		t.Fatal("HasDiscoveredNAT is false with mappings made")
	}
	if n := len(gw.Mappings()); n != 2 {
		t.Fatalf("router holds %d mappings, want 2 (loopback listeners are not mapped): %+v", n, gw.Mappings())
	}

	// The cases of go-libp2p's own natmgr TestMapping: what follows the
	// port is kept.
	ext := gatewaytest.DefaultExternalAddr
	for addr, want := range map[string]string{
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp):                      fmt.Sprintf("/ip4/%s/tcp/%d", ext, tcp),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", udp):              fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ext, udp),
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d/ws", tcp):                   fmt.Sprintf("/ip4/%s/tcp/%d/ws", ext, tcp),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1/webtransport", udp): fmt.Sprintf("/ip4/%s/udp/%d/quic-v1/webtransport", ext, udp),
		fmt.Sprintf("/ip4/192.168.1.5/tcp/%d", tcp):                  fmt.Sprintf("/ip4/%s/tcp/%d", ext, tcp),
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", udp):                      "<nil>", // only UDP is mapped there
		fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tcp):                    "<nil>",
		fmt.Sprintf("/ip6/::/tcp/%d", tcp):                           "<nil>",
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", uint16(udp+1)):    "<nil>",
		fmt.Sprintf("/dns4/example.com/tcp/%d", tcp):                 "<nil>",
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d/p2p-circuit", tcp):          fmt.Sprintf("/ip4/%s/tcp/%d/p2p-circuit", ext, tcp),
	} {
		if got := mappingOf(m, addr); got != want {
			t.Errorf("GetMapping(%s) = %s, want %s", addr, got, want)
		}
	}
}

// The cases of go-libp2p's natmgr TestAddAndRemoveListeners: a new listener
// is mapped, a closed one's mapping deleted, and Close deletes the rest.
func TestFollowsListeners(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	sw := newSwarm(t)
	m := upnpmaplibp2p.New(sw, c)
	testgw.Eventually(t, "gateway discovered", m.HasDiscoveredNAT)

	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	testgw.Eventually(t, "TCP listener mapped", func() bool { _, ok := testgw.Has(gw, "TCP", tcp, tcp); return ok })
	quicAddr := "/ip4/0.0.0.0/udp/0/quic-v1"
	udp := listen(t, sw, quicAddr)
	testgw.Eventually(t, "QUIC listener mapped", func() bool { _, ok := testgw.Has(gw, "UDP", udp, udp); return ok })

	sw.ListenClose(ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", udp)))
	testgw.Eventually(t, "closed QUIC listener's mapping deleted", func() bool {
		_, ok := testgw.Has(gw, "UDP", udp, udp)
		return !ok
	})
	if _, ok := testgw.Has(gw, "TCP", tcp, tcp); !ok {
		t.Fatal("closing the QUIC listener deleted the TCP mapping")
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Fatalf("router holds %+v after Close, want nothing", ms)
	}
	if got := mappingOf(m, fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp)); got != "<nil>" {
		t.Fatalf("GetMapping after Close = %s, want nil", got)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// What the router does to a mapping shows in GetMapping: a new external
// address, the mapping lost (nothing to announce), and restored.
func TestGetMappingFollowsEvents(t *testing.T) {
	gw, c := testgw.New(t, gatewaytest.Config{})
	testgw.PollUPnP(c)
	sw := newSwarm(t)
	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	m := upnpmaplibp2p.New(sw, c)
	defer m.Close()
	addr := fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp)
	eventuallyMapping(t, m, addr, fmt.Sprintf("/ip4/%s/tcp/%d", gatewaytest.DefaultExternalAddr, tcp))

	changed := netip.MustParseAddr("198.51.100.1")
	gw.SetExternalAddr(changed) // the ISP gave the router a new address
	eventuallyMapping(t, m, addr, fmt.Sprintf("/ip4/%s/tcp/%d", changed, tcp))

	undo := testgw.RefuseUPnPAdds(gw)
	gw.Reboot() // the mapping is gone and cannot be made again for now
	eventuallyMapping(t, m, addr, "<nil>")

	undo()
	eventuallyMapping(t, m, addr, fmt.Sprintf("/ip4/%s/tcp/%d", changed, tcp))
	if _, ok := testgw.Has(gw, "TCP", tcp, tcp); !ok {
		t.Fatalf("router holds %+v after the restore", gw.Mappings())
	}
}

func TestNoGateway(t *testing.T) {
	_, c := testgw.New(t, gatewaytest.Config{DisableNATPMP: true, DisablePCP: true, DisableUPnP: true})
	c.ProbeTimeout = 200 * time.Millisecond
	sw := newSwarm(t)
	tcp := listen(t, sw, "/ip4/0.0.0.0/tcp/0")
	var log logBuffer
	c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	m := upnpmaplibp2p.New(sw, c)
	testgw.Eventually(t, "the manager gave up on the gateway", func() bool {
		return strings.Contains(log.String(), "no gateway for port mappings")
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.HasDiscoveredNAT() {
		t.Fatal("HasDiscoveredNAT with no router answering")
	}
	if got := mappingOf(m, fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", tcp)); got != "<nil>" {
		t.Fatalf("GetMapping = %s without a gateway", got)
	}
}

// logBuffer collects log output from the manager's goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
