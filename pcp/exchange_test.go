package pcp

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// TestDebugRecordsEachExchange: with a Logger, every request and the reply
// that answers it are recorded (upnpmap -v shows them): opcode, nonce, port,
// lifetime asked and granted, result, epoch.
func TestDebugRecordsEachExchange(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	var logs bytes.Buffer
	c := newClient(r)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.Announce(t.Context()); err != nil {
		t.Fatal(err)
	}
	m, err := c.Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 7000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "pcp: request"); n != 2 {
		t.Errorf("%d requests logged, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, "pcp: reply"); n != 2 {
		t.Errorf("%d replies logged, want 2:\n%s", n, out)
	}
	for _, want := range []string{"op=ANNOUNCE", "op=MAP", "nonce=" + m.Nonce.String(), "internal_port=7000",
		"lifetime=1h0m0s", "result=SUCCESS", "external="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestPrivilegedPortSentOnce: a MAP for a port below 1024 is sent once and
// not retransmitted (miniupnpd stalls ~45 s per such request when its rules
// deny the port); other requests are retransmitted as §8.1.1 says.
func TestPrivilegedPortSentOnce(t *testing.T) {
	for _, tt := range []struct {
		req  MapRequest
		once bool
	}{
		{MapRequest{Protocol: TCP, InternalPort: 22, Lifetime: time.Hour}, true},
		{MapRequest{Protocol: TCP, InternalPort: 8022, SuggestedExternal: netip.AddrPortFrom(netip.Addr{}, 80), Lifetime: time.Hour}, true},
		{MapRequest{Protocol: TCP, InternalPort: 8022, Lifetime: time.Hour}, false},
	} {
		r := udptest.New(t, "127.0.0.1:0", nil) // silent
		c := newClient(r)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := c.Map(ctx, tt.req)
		cancel()
		if err == nil {
			t.Fatal("a silent server answered")
		}
		n := requestsAtLeast(r, 2) // the client has returned: no more will come
		if tt.once && n != 1 {
			t.Errorf("port %d/%d: %d transmissions, want 1", tt.req.InternalPort, tt.req.SuggestedExternal.Port(), n)
		}
		if !tt.once && n < 2 {
			t.Errorf("port %d: %d transmissions, want retransmissions", tt.req.InternalPort, n)
		}
	}
}
