package pcp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/pcp"
)

// These tests run the client against gatewaytest, the project's fake router,
// which is written from the RFCs independently of this package.

func client(server netip.AddrPort) *pcp.Client {
	return &pcp.Client{Server: server, InitialTimeout: 20 * time.Millisecond, MaxDuration: 2 * time.Second}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestGatewayMapLifecycle(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	c := client(gw.PCPAddr())
	ctx := t.Context()

	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 18080, Lifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if m.External.Addr() != gatewaytest.DefaultExternalAddr || m.External.Port() == 0 || m.Lifetime != 120*time.Second {
		t.Errorf("Map = %+v; want the external address and the 120s floor", m)
	}
	ms := gw.Mappings()
	if len(ms) != 1 || ms[0].Method != gatewaytest.PCP || ms[0].Nonce != m.Nonce ||
		ms[0].InternalPort != 18080 || ms[0].ExternalPort != m.External.Port() {
		t.Fatalf("gateway table %+v", ms)
	}
	// Renewal with the nonce keeps one entry.
	r, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 18080, Lifetime: time.Hour, Nonce: m.Nonce, SuggestedExternal: m.External})
	if err != nil || r.External != m.External || r.Nonce != m.Nonce {
		t.Fatalf("renewal = %+v, %v", r, err)
	}
	if n := len(gw.Mappings()); n != 1 {
		t.Errorf("%d entries after a renewal", n)
	}
	if err := c.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("after Delete the table holds %+v", ms)
	}
	// A second delete: SUCCESS per the RFC, NO_RESOURCES per miniupnpd;
	// either way the caller can tell the mapping is gone.
	if err := c.Delete(ctx, r); err != nil && !errors.Is(err, pcp.ErrNoSuchEntry) {
		t.Errorf("second Delete: %v", err)
	}
}

func TestGatewayIPv6Pinhole(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	c := client(gw.PCPAddr6())
	m, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 5353, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway takes ::1 for its Config.IPv6Host.
	if m.External.Addr() != gatewaytest.DefaultIPv6Host || m.External.Port() != 5353 {
		t.Errorf("pinhole %v, want [%v]:5353", m.External, gatewaytest.DefaultIPv6Host)
	}
	if err := c.Delete(t.Context(), m); err != nil {
		t.Error(err)
	}
}

func TestGatewayOptions(t *testing.T) {
	t.Run("third party refused by default", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		_, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 22, Lifetime: time.Hour,
			ThirdParty: netip.MustParseAddr("127.0.0.99")})
		if !errors.Is(err, pcp.ErrUnsuppOption) || !errors.Is(err, errs.Unsupported) {
			t.Errorf("err = %v, want UNSUPP_OPTION", err)
		}
	})
	t.Run("third party allowed", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{AllowThirdParty: true})
		c := client(gw.PCPAddr())
		tp := netip.MustParseAddr("127.0.0.99")
		m, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 22, Lifetime: time.Hour, ThirdParty: tp})
		if err != nil {
			t.Fatal(err)
		}
		if ms := gw.Mappings(); len(ms) != 1 || ms[0].InternalAddr != tp {
			t.Errorf("table %+v, want a mapping to %v", ms, tp)
		}
		if err := c.Delete(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if ms := gw.Mappings(); len(ms) != 0 {
			t.Errorf("the THIRD_PARTY delete left %+v", ms)
		}
	})
	t.Run("filters kept", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		_, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 443, Lifetime: time.Hour,
			Filters: []pcp.Filter{{PrefixLen: 24, Remote: netip.MustParseAddrPort("198.51.100.0:0")}}})
		if err != nil {
			t.Fatal(err)
		}
		ms := gw.Mappings()
		if len(ms) != 1 || len(ms[0].Filters) != 1 || ms[0].Filters[0].Remote != netip.MustParsePrefix("198.51.100.0/24") {
			t.Errorf("table %+v, want the /24 filter", ms)
		}
	})
	t.Run("prefer failure", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.AddMapping(gatewaytest.Mapping{ExternalPort: 8443})
		_, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 8443, Lifetime: time.Hour,
			SuggestedExternal: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 8443), PreferFailure: true})
		if !errors.Is(err, pcp.ErrPortInUse) {
			t.Errorf("err = %v, want CANNOT_PROVIDE_EXTERNAL", err)
		}
	})
}

func TestGatewayPeer(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	remote := netip.MustParseAddrPort("198.51.100.20:443")
	p, err := client(gw.PCPAddr()).Peer(t.Context(), pcp.PeerRequest{Protocol: pcp.TCP, InternalPort: 40000, Remote: remote, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if p.Remote != remote || p.External.Addr() != gatewaytest.DefaultExternalAddr {
		t.Errorf("Peer = %+v", p)
	}
	if ms := gw.Mappings(); len(ms) != 1 || ms[0].RemotePeer != remote {
		t.Errorf("table %+v", ms)
	}
}

func TestGatewayResultCodes(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	c := client(gw.PCPAddr())
	for code := gatewaytest.PCPNotAuthorized; code <= gatewaytest.PCPExcessiveRemotePeers; code++ {
		gw.SetResult(gatewaytest.PCP, code)
		_, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 7000, Lifetime: time.Hour})
		var re *pcp.ResultError
		if !errors.As(err, &re) || int(re.Code) != code || re.Opcode != pcp.OpMap || errors.Unwrap(re) == nil {
			t.Errorf("result %d: err = %v", code, err)
		}
	}
}

func TestGatewaySpeaksNATPMP(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{NATPMPOnly: true})
	_, err := client(gw.PCPAddr()).Announce(t.Context())
	if !errors.Is(err, pcp.ErrSpeaksNATPMP) {
		t.Errorf("err = %v, want ErrSpeaksNATPMP", err)
	}
}

func TestGatewayDecoys(t *testing.T) {
	for _, kind := range []string{gatewaytest.DecoyWrongNonce, gatewaytest.DecoyWrongSource, gatewaytest.DecoyTruncated} {
		t.Run(kind, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{})
			gw.SetDecoy(kind)
			m, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 3000, Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if m.External.Addr() != gatewaytest.DefaultExternalAddr || m.External.Port() == gatewaytest.DecoyPort {
				t.Errorf("Map = %+v: took the decoy", m)
			}
		})
	}
}

func TestGatewaySilentUsesTheBudget(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetSilent(gatewaytest.PCP, true)
	c := client(gw.PCPAddr())
	c.MaxDuration = 150 * time.Millisecond
	start := time.Now()
	_, err := c.Announce(context.Background())
	if !errors.Is(err, pcp.ErrTimeout) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v", err, time.Since(start))
	}
	if n := eventually(3, func() int { return gw.Requests(gatewaytest.PCP) }); n < 3 {
		t.Errorf("%d transmissions in 150ms from a 20ms IRT", n)
	}
}

func TestGatewayRebootAndUnsolicitedAnnounce(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	gw := gatewaytest.New(t, gatewaytest.Config{
		Now:           clk.Now,
		AnnounceTo:    []netip.AddrPort{l.LocalAddr().(*net.UDPAddr).AddrPort()},
		AnnounceCount: 1,
	})
	c := client(gw.PCPAddr())
	clk.Advance(time.Hour)
	if a, err := c.Announce(t.Context()); err != nil || a.GatewayReset {
		t.Fatalf("Announce = %+v, %v", a, err)
	}
	gw.Reboot()

	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := l.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no PCP ANNOUNCE: %v", err)
		}
		r, err := c.CheckUnsolicited(buf[:n], from)
		if err != nil {
			continue // the NAT-PMP announcement
		}
		if r.Opcode != pcp.OpAnnounce || !r.GatewayReset {
			t.Errorf("unsolicited %+v; want an ANNOUNCE with GatewayReset", r)
		}
		break
	}
	// The reset was reported by the announcement, so a request now sees a
	// valid epoch.
	if a, err := c.Announce(t.Context()); err != nil || a.GatewayReset {
		t.Errorf("Announce after the reboot = %+v, %v", a, err)
	}
}

func TestGatewayRebootSeenByMap(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	gw := gatewaytest.New(t, gatewaytest.Config{Now: clk.Now})
	c := client(gw.PCPAddr())
	clk.Advance(time.Hour)
	m, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gw.Reboot()
	r, err := c.Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9000, Lifetime: time.Hour, Nonce: m.Nonce})
	if err != nil || !r.GatewayReset {
		t.Errorf("renewal after a reboot = %+v, %v; want GatewayReset", r, err)
	}
}

// eventually polls count for up to a second until it reaches want: the
// gateway counts a datagram when its goroutine reads it, which may be after
// the client returned.
func eventually(want int, count func() int) int {
	deadline := time.Now().Add(time.Second)
	n := count()
	for n < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n = count()
	}
	return n
}

// TestGatewayExternalAddress: PCP has no external-address request, so the
// client maps a short-lived port and deletes it; the router is left with no
// mapping, and it took two requests.
func TestGatewayExternalAddress(t *testing.T) {
	ext := netip.MustParseAddr("203.0.113.9")
	gw := gatewaytest.New(t, gatewaytest.Config{ExternalAddr: ext, DisableNATPMP: true, DisableUPnP: true})
	c := client(gw.PCPAddr())
	got, err := c.ExternalAddress(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != ext {
		t.Errorf("ExternalAddress = %v, want %v", got, ext)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("mappings left on the router: %+v", m)
	}
	if n := gw.Requests(gatewaytest.PCP); n != 2 {
		t.Errorf("%d PCP requests, want 2 (map, delete)", n)
	}
	// A refusal is reported as one, and not retried.
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
	if _, err := c.ExternalAddress(t.Context()); !errors.Is(err, pcp.ErrNotAuthorized) {
		t.Errorf("refused: err = %v", err)
	}
	if n := gw.Requests(gatewaytest.PCP); n != 3 {
		t.Errorf("%d PCP requests after a refusal, want 3", n)
	}
}
