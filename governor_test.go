package upnpmap

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGovernorCeiling: the exchanges with one router pass the governor — a
// burst of governorBurst, then governorRate a second on the Client's clock —
// while the first Map (and Close) of each mapping is exempt: opening many
// mappings at once is never delayed.
func TestGovernorCeiling(t *testing.T) {
	f := newFake(NATPMP)
	c, fc := fakeClient(t, f)
	ctx := context.Background()
	for i := range 2 * governorBurst {
		mustMap(t, c, Request{InternalPort: uint16(8000 + i), Lifetime: time.Hour})
	}
	if n := f.count("map"); n != 2*governorBurst {
		t.Fatalf("%d first Maps went through, want %d: they are exempt", n, 2*governorBurst)
	}
	for i := range governorBurst {
		if _, err := c.ExternalAddr(ctx); err != nil {
			t.Fatalf("request %d of the burst: %v", i+1, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.ExternalAddr(short); !errors.Is(err, ErrTimeout) {
		t.Fatalf("request past the burst: %v, want it held until its context ended", err)
	}
	if n := f.count("external"); n != governorBurst {
		t.Fatalf("%d requests reached the router, want the burst of %d", n, governorBurst)
	}
	// Half a second refills one token at 2 a second.
	fc.Advance(time.Second / governorRate)
	if _, err := c.ExternalAddr(ctx); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	if n := f.count("external"); n != governorBurst+1 {
		t.Fatalf("%d requests reached the router after the refill, want %d", n, governorBurst+1)
	}
}
