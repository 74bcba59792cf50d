package natpmp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// The client sees the gateway's epoch go back between two calls and says so
// once, in the response that showed it.
func TestGatewayResetReported(t *testing.T) {
	epochs := []uint32{1000, 1010, 3, 13}
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, addrReply(Success, epochs[req.N-1], netip.MustParseAddr("203.0.113.7")))
	})
	now := time.Unix(1_000_000, 0)
	c := newClient(r)
	c.now = func() time.Time { return now }
	for i, want := range []bool{false, false, true, false} {
		res, err := c.ExternalAddress(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if res.GatewayReset != want {
			t.Errorf("call %d (epoch %d): GatewayReset = %v, want %v", i, res.Epoch, res.GatewayReset, want)
		}
		now = now.Add(10 * time.Second)
	}
}

// A reset seen in an error reply or a delete is not lost: the next
// successful response carries it.
func TestGatewayResetKeptUntilReported(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		switch req.N {
		case 1:
			r.Reply(req, addrReply(Success, 5000, netip.MustParseAddr("203.0.113.7")))
		case 2:
			r.Reply(req, mapReply(2, OutOfResources, 2, 80, 0, 0)) // rebooted, and full
		case 3:
			r.Reply(req, mapReply(2, Success, 3, 80, 80, 60))
		case 4:
			r.Reply(req, mapReply(2, Success, 4, 80, 80, 60))
		}
	})
	c := newClient(r)
	if _, err := c.ExternalAddress(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Map(t.Context(), TCP, 80, 80, time.Minute); err == nil {
		t.Fatal("want the OutOfResources error")
	}
	m, err := c.Map(t.Context(), TCP, 80, 80, time.Minute)
	if err != nil || !m.GatewayReset {
		t.Fatalf("Map after the reset: %+v, %v; want GatewayReset", m, err)
	}
	m, err = c.Map(t.Context(), TCP, 80, 80, time.Minute)
	if err != nil || m.GatewayReset {
		t.Fatalf("next Map: %+v, %v; the reset was already reported", m, err)
	}
}
