package reach

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiterIPv6Per64(t *testing.T) {
	l := limiter{rate: 1, burst: 2, maxSources: 2}
	now := time.Now()
	a := netip.MustParseAddr("2001:db8:1:1::1")
	b := netip.MustParseAddr("2001:db8:1:1:ffff::2") // same /64
	c := netip.MustParseAddr("2001:db8:1:2::1")      // another /64
	if ok, _ := l.allow(a, now); !ok {
		t.Fatal("first")
	}
	if ok, _ := l.allow(b, now); !ok {
		t.Fatal("second")
	}
	if ok, _ := l.allow(a, now); ok {
		t.Fatal("third from the same /64 allowed")
	}
	if ok, _ := l.allow(c, now); !ok {
		t.Fatal("another /64 limited")
	}
	// The table is full of active sources: a third source waits.
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.1"), now); ok {
		t.Fatal("source beyond MaxSources allowed")
	}
	// Once the others have refilled, they are forgotten and it gets in.
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.1"), now.Add(3*time.Second)); !ok {
		t.Fatal("table never swept")
	}
}
