package natpmp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestEpochTracker(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type obs struct {
		sssoe     uint32
		after     time.Duration // since the previous observation
		wantReset bool
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"first value accepted", []obs{{5, 0, false}}},
		{"steady", []obs{{100, 0, false}, {110, 10 * time.Second, false}, {200, 90 * time.Second, false}}},
		{"gateway slightly slow: 7/8 rule", []obs{{100, 0, false}, {188, 100 * time.Second, false}}},
		// estimate 100 + 87.5 = 187.5; 185.4 would be within 2 s, 185 is not
		{"just over 2 s below the estimate", []obs{{100, 0, false}, {185, 100 * time.Second, true}}},
		{"exactly 2 s below", []obs{{100, 0, false}, {186, 100*time.Second + 571*time.Millisecond, false}}},
		{"went backwards: reboot", []obs{{5000, 0, false}, {3, time.Second, true}}},
		{"same value within 2 s", []obs{{100, 0, false}, {100, 2 * time.Second, false}}},
		{"stuck epoch over a long time", []obs{{100, 0, false}, {100, time.Minute, true}}},
		{"after a reset the new value is the base", []obs{{5000, 0, false}, {3, time.Second, true}, {13, 10 * time.Second, false}}},
		{"gateway faster than us is fine", []obs{{100, 0, false}, {1000, time.Second, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e epochTracker
			now := t0
			for i, o := range tt.seq {
				now = now.Add(o.after)
				if got := e.observe(o.sssoe, now); got != o.wantReset {
					t.Errorf("observation %d (sssoe %d after %v): reset = %v, want %v", i, o.sssoe, o.after, got, o.wantReset)
				}
			}
		})
	}
}

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
