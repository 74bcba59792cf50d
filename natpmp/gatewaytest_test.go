package natpmp_test

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
	"github.com/upnpmap/upnpmap/natpmp"
)

// These tests run the client against gatewaytest, the project's fake router,
// which is written from the RFCs independently of this package.

func client(gw *gatewaytest.Gateway) *natpmp.Client {
	return &natpmp.Client{Gateway: netip.AddrPortFrom(gw.Addr(), 0), InitialTimeout: 20 * time.Millisecond, MaxAttempts: 4}
}

// fakeClock lets a test age the gateway's epoch without sleeping.
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
	c := client(gw)
	ctx := t.Context()

	ext, err := c.ExternalAddress(ctx)
	if err != nil || ext.Addr != gatewaytest.DefaultExternalAddr {
		t.Fatalf("ExternalAddress = %+v, %v", ext, err)
	}
	m, err := c.Map(ctx, natpmp.TCP, 18080, 18080, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalPort != 18080 || m.Lifetime != time.Hour {
		t.Errorf("Map = %+v", m)
	}
	// Renewal suggests the granted port and keeps a single entry.
	if _, err := c.Map(ctx, natpmp.TCP, 18080, m.ExternalPort, time.Hour); err != nil {
		t.Fatal(err)
	}
	ms := gw.Mappings()
	if len(ms) != 1 || ms[0].Method != gatewaytest.NATPMP || ms[0].Protocol != "TCP" ||
		ms[0].ExternalPort != 18080 || ms[0].InternalPort != 18080 {
		t.Fatalf("gateway table %+v", ms)
	}
	if err := c.Delete(ctx, natpmp.TCP, 18080); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("after Delete the table holds %+v", ms)
	}
	// Deleting what is not there succeeds (§3.4).
	if err := c.Delete(ctx, natpmp.TCP, 18080); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestGatewayDeleteAll(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	c := client(gw)
	for _, p := range []uint16{1001, 1002} {
		if _, err := c.Map(t.Context(), natpmp.UDP, p, p, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteAll(t.Context(), natpmp.UDP); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("after DeleteAll the table holds %+v", ms)
	}
}

func TestGatewayGrantsAnotherPort(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.AddMapping(gatewaytest.Mapping{ExternalPort: 8080}) // another host holds it
	m, err := client(gw).Map(t.Context(), natpmp.TCP, 8080, 8080, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalPort == 8080 || m.ExternalPort == 0 {
		t.Errorf("granted port %d; the gateway had to pick another", m.ExternalPort)
	}
	found := false
	for _, e := range gw.Mappings() {
		found = found || (e.Method == gatewaytest.NATPMP && e.ExternalPort == m.ExternalPort)
	}
	if !found {
		t.Errorf("port %d is not in the gateway's table %+v", m.ExternalPort, gw.Mappings())
	}
}

func TestGatewayResultCodes(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	c := client(gw)
	for code, want := range map[int]error{
		gatewaytest.NATPMPNotAuthorized:     errs.NotAuthorized,
		gatewaytest.NATPMPNetworkFailure:    errs.NetworkFailure,
		gatewaytest.NATPMPOutOfResources:    errs.NoResources,
		gatewaytest.NATPMPUnsupportedOpcode: natpmp.ErrUnsupportedOpcode,
	} {
		gw.SetResult(gatewaytest.NATPMP, code)
		_, err := c.Map(t.Context(), natpmp.TCP, 2000, 2000, time.Hour)
		var re *natpmp.ResultError
		if !errors.Is(err, want) || !errors.As(err, &re) || int(re.Code) != code {
			t.Errorf("result %d: err = %v, want %v", code, err, want)
		}
	}
}

func TestGatewayWithoutNATPMP(t *testing.T) {
	t.Run("PCP only", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{DisableNATPMP: true})
		_, err := client(gw).ExternalAddress(t.Context())
		if !errors.Is(err, natpmp.ErrUnsupportedVersion) {
			t.Errorf("err = %v, want ErrUnsupportedVersion", err)
		}
	})
	t.Run("port closed", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{DisableNATPMP: true, DisablePCP: true})
		c := client(gw)
		c.InitialTimeout = 5 * time.Second
		start := time.Now()
		_, err := c.ExternalAddress(t.Context())
		if !errors.Is(err, natpmp.ErrUnsupported) || time.Since(start) > time.Second {
			t.Errorf("err = %v after %v, want a quick ErrUnsupported", err, time.Since(start))
		}
	})
	t.Run("silent", func(t *testing.T) {
		// Counted, not timed: a silent gateway gets every one of the
		// MaxAttempts transmissions, then ErrTimeout, however slowly this
		// machine schedules the retransmissions.
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.SetSilent(gatewaytest.NATPMP, true)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		c := client(gw)
		c.MaxAttempts = 3
		_, err := c.ExternalAddress(ctx)
		if !errors.Is(err, natpmp.ErrTimeout) || ctx.Err() != nil {
			t.Errorf("err = %v (context: %v), want ErrTimeout after the attempts, before the context ends", err, ctx.Err())
		}
		if n := eventually(3, func() int { return gw.Requests(gatewaytest.NATPMP) }); n != 3 {
			t.Errorf("the gateway saw %d requests; want MaxAttempts = 3", n)
		}
	})
}

func TestGatewayDecoys(t *testing.T) {
	for _, kind := range []string{gatewaytest.DecoyWrongSource, gatewaytest.DecoyTruncated} {
		t.Run(kind, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{})
			gw.SetDecoy(kind)
			c := client(gw)
			ext, err := c.ExternalAddress(t.Context())
			if err != nil || ext.Addr != gatewaytest.DefaultExternalAddr {
				t.Errorf("ExternalAddress = %+v, %v", ext, err)
			}
			m, err := c.Map(t.Context(), natpmp.UDP, 3000, 3000, time.Hour)
			if err != nil || m.ExternalPort != 3000 {
				t.Errorf("Map = %+v, %v (decoy port %d)", m, err, gatewaytest.DecoyPort)
			}
		})
	}
}

func TestGatewayRebootDetected(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	gw := gatewaytest.New(t, gatewaytest.Config{Now: clk.Now})
	c := client(gw)
	clk.Advance(time.Hour) // the gateway has been up an hour
	if _, err := c.Map(t.Context(), natpmp.TCP, 4000, 4000, time.Hour); err != nil {
		t.Fatal(err)
	}
	gw.Reboot()
	m, err := c.Map(t.Context(), natpmp.TCP, 4000, 4000, time.Hour)
	if err != nil || !m.GatewayReset {
		t.Fatalf("Map after a reboot = %+v, %v; want GatewayReset", m, err)
	}
	if m, err := c.Map(t.Context(), natpmp.TCP, 4000, 4000, time.Hour); err != nil || m.GatewayReset {
		t.Errorf("the next Map = %+v, %v; the reset was already reported", m, err)
	}
}

func TestGatewayAnnouncement(t *testing.T) {
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
	c := client(gw)
	clk.Advance(time.Hour)
	if _, err := c.ExternalAddress(t.Context()); err != nil {
		t.Fatal(err)
	}
	newAddr := netip.MustParseAddr("198.51.100.200")
	gw.SetExternalAddr(newAddr) // restarts the epoch and announces

	// Both the NAT-PMP announcement and the PCP ANNOUNCE arrive; only the
	// first parses as NAT-PMP.
	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := l.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no NAT-PMP announcement: %v", err)
		}
		a, err := c.CheckAnnouncement(buf[:n], from)
		if err != nil {
			continue
		}
		if a.Addr != newAddr || !a.GatewayReset {
			t.Errorf("announcement %+v; want %v and GatewayReset", a, newAddr)
		}
		return
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
