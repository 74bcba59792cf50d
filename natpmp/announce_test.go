package natpmp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestParseAnnouncement(t *testing.T) {
	good := addrReply(Success, 42, netip.MustParseAddr("198.51.100.9"))
	a, err := ParseAnnouncement(good)
	if err != nil || a.Addr != netip.MustParseAddr("198.51.100.9") || a.Epoch != 42 {
		t.Fatalf("ParseAnnouncement(good) = %+v, %v", a, err)
	}
	bad := map[string][]byte{
		"empty":         nil,
		"short":         good[:11],
		"version 2":     append([]byte{2}, good[1:]...),
		"request":       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"map response":  mapReply(1, Success, 42, 1, 1, 1),
		"error result":  addrReply(NetworkFailure, 42, netip.IPv4Unspecified()),
		"unknown reply": {0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	for name, b := range bad {
		if _, err := ParseAnnouncement(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestCheckAnnouncement(t *testing.T) {
	gw := netip.MustParseAddrPort("192.0.2.1:0")
	c := &Client{Gateway: gw}
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	from := netip.MustParseAddrPort("192.0.2.1:5351")

	if _, err := c.CheckAnnouncement(addrReply(Success, 900, netip.MustParseAddr("198.51.100.1")),
		netip.MustParseAddrPort("192.0.2.99:5351")); err == nil {
		t.Error("an announcement from another host was accepted")
	}
	a, err := c.CheckAnnouncement(addrReply(Success, 900, netip.MustParseAddr("198.51.100.1")), from)
	if err != nil || a.GatewayReset {
		t.Fatalf("first announcement: %+v, %v", a, err)
	}
	now = now.Add(time.Minute)
	// An IPv4-mapped source (a dual-stack socket) is the same gateway.
	a, err = c.CheckAnnouncement(addrReply(Success, 1, netip.MustParseAddr("198.51.100.2")),
		netip.MustParseAddrPort("[::ffff:192.0.2.1]:5351"))
	if err != nil || !a.GatewayReset || a.Addr != netip.MustParseAddr("198.51.100.2") {
		t.Fatalf("announcement after a reboot: %+v, %v; want GatewayReset", a, err)
	}
}
