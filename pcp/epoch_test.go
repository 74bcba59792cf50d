package pcp

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestEpochState(t *testing.T) {
	type obs struct {
		epoch   uint32
		after   time.Duration
		invalid bool
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"first is valid", []obs{{12345, 0, false}}},
		{"in step", []obs{{100, 0, false}, {160, time.Minute, false}}},
		{"one second back is tolerated", []obs{{100, 0, false}, {99, 0, false}}},
		{"two seconds back is a reset", []obs{{100, 0, false}, {98, 0, true}}},
		{"restart: small epoch after a while", []obs{{100, 0, false}, {5, 10 * time.Second, true}}},
		// client_delta = 100, server_delta = 90: 90+2 < 100-6 is true
		{"server too slow", []obs{{100, 0, false}, {190, 100 * time.Second, true}}},
		// client_delta = 100, server_delta = 92: 92+2 < 94 is false
		{"server slow within 1/16 + 2", []obs{{100, 0, false}, {192, 100 * time.Second, false}}},
		// client_delta = 100, server_delta = 109: 102 < 109-6 = 103 is true
		{"server too fast", []obs{{100, 0, false}, {209, 100 * time.Second, true}}},
		{"server fast within bounds", []obs{{100, 0, false}, {208, 100 * time.Second, false}}},
		{"stuck epoch", []obs{{100, 0, false}, {100, 10 * time.Second, true}}},
		{"times recorded even when invalid", []obs{{100, 0, false}, {5, 10 * time.Second, true}, {15, 10 * time.Second, false}}},
		{"sub-second client time counts as 0", []obs{{100, 0, false}, {102, 900 * time.Millisecond, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e epochState
			now := time.Unix(1_000_000, 0)
			for i, o := range tt.seq {
				now = now.Add(o.after)
				if got := e.observe(o.epoch, now); got != o.invalid {
					t.Errorf("observation %d (epoch %d after %v): invalid = %v, want %v", i, o.epoch, o.after, got, o.invalid)
				}
			}
		})
	}
}

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
