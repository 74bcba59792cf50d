package pcp

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestGatewayReset(t *testing.T) {
	epochs := []uint32{5000, 5010, 4, 14, 24}
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		b := respond(req.Data, Success, 0, epochs[req.N-1])
		if req.N == 4 {
			b[3] = byte(NoResources) // an error reply; the reset seen at 3 was already reported
		}
		r.Reply(req, b)
	})
	c := newClient(r)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	for i, want := range []bool{false, false, true} {
		a, err := c.Announce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if a.GatewayReset != want {
			t.Errorf("call %d (epoch %d): GatewayReset = %v, want %v", i, a.Epoch, a.GatewayReset, want)
		}
		now = now.Add(10 * time.Second)
	}
	if _, err := c.Announce(t.Context()); err == nil {
		t.Fatal("want the NO_RESOURCES error")
	}
	now = now.Add(10 * time.Second)
	if a, err := c.Announce(t.Context()); err != nil || a.GatewayReset {
		t.Errorf("last call: %+v, %v; no reset", a, err)
	}
}

// A reset seen in an error reply is reported by the next success.
func TestGatewayResetKeptUntilReported(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		switch req.N {
		case 1:
			r.Reply(req, respond(req.Data, Success, 0, 9000))
		case 2:
			r.Reply(req, respond(req.Data, NetworkFailure, 30, 1)) // rebooted, no uplink yet
		default:
			r.Reply(req, respond(req.Data, Success, 0, 2))
		}
	})
	c := newClient(r)
	for i, want := range []bool{false, false, true} {
		a, err := c.Announce(t.Context())
		if i == 1 {
			if err == nil {
				t.Fatal("want NETWORK_FAILURE")
			}
			continue
		}
		if err != nil || a.GatewayReset != want {
			t.Errorf("call %d: %+v, %v; want GatewayReset %v", i, a, err, want)
		}
	}
}
