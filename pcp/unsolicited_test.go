package pcp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestCheckUnsolicited(t *testing.T) {
	c := &Client{Server: netip.MustParseAddrPort("192.0.2.1:0")}
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	from := netip.MustParseAddrPort("192.0.2.1:5351")
	announce := func(epoch uint32) []byte {
		return respond(AppendAnnounceRequest(nil, netip.IPv4Unspecified()), Success, 0, epoch)
	}

	if _, err := c.CheckUnsolicited(announce(500), netip.MustParseAddrPort("192.0.2.66:5351")); err == nil {
		t.Error("accepted an ANNOUNCE from another host")
	}
	r, err := c.CheckUnsolicited(announce(500), from)
	if err != nil || r.Opcode != OpAnnounce || r.GatewayReset {
		t.Fatalf("first ANNOUNCE: %+v, %v", r, err)
	}
	now = now.Add(time.Hour)
	// The server restarted: its epoch is small again.
	r, err = c.CheckUnsolicited(announce(3), netip.MustParseAddrPort("[::ffff:192.0.2.1]:5351"))
	if err != nil || !r.GatewayReset {
		t.Fatalf("ANNOUNCE after a restart: %+v, %v; want GatewayReset", r, err)
	}

	// A MAP response telling of a changed mapping (§14.2) parses with its nonce.
	nonce := NewNonce()
	req, _ := AppendMapRequest(nil, netip.MustParseAddr("192.0.2.10"), &MapRequest{Protocol: TCP, InternalPort: 22, Nonce: nonce, Lifetime: time.Hour})
	now = now.Add(10 * time.Second)
	m, err := c.CheckUnsolicited(grant(respond(req, Success, 3600, 13), netip.MustParseAddrPort("198.51.100.1:2222")), from)
	if err != nil || m.Nonce != nonce || m.External != netip.MustParseAddrPort("198.51.100.1:2222") || m.GatewayReset {
		t.Fatalf("unsolicited MAP: %+v, %v", m, err)
	}

	// NAT-PMP announcements share port 5350; they are not PCP.
	if _, err := c.CheckUnsolicited([]byte{0, 128, 0, 0, 0, 0, 0, 1, 198, 51, 100, 1}, from); !errors.Is(err, ErrMalformed) {
		t.Errorf("NAT-PMP announcement: %v", err)
	}
}
