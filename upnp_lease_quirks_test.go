package upnpmap

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// An IGD:2 router that takes only lease 0 (725 to any other) but, as
// WANIPConnection:2 defines lease 0, keeps the entry for 604800 s, not for
// ever: the mapping must learn that week and renew before it ends (quirk
// Q27).
func TestGatewayIGD2ZeroLeaseRenewed(t *testing.T) {
	const week = 604800 * time.Second
	t.Run("read back", func(t *testing.T) {
		gw, c, fc := sharedClock(t, gatewaytest.Config{RequireZeroLease: true}, UPnP)
		m := mustMap(t, c, Request{InternalPort: 4700, Lifetime: time.Hour})
		fc.WaitSettled(t)
		// One AddPortMapping with the hour (725), one with lease 0.
		if n := gw.Requests("AddPortMapping"); n != 2 {
			t.Fatalf("AddPortMapping sent %d times, want 2", n)
		}
		if m.Lifetime() != week || !m.Expires().Equal(fc.Now().Add(week)) {
			t.Fatalf("lease %v, expires %v: want a week from %v", m.Lifetime(), m.Expires(), fc.Now())
		}
		start := fc.Now()
		for i := range 3 {
			e, ok := entry(gw, "TCP", 4700)
			if !ok {
				t.Fatalf("renewal %d: entry gone at %v: %+v", i, fc.Now().Sub(start), gw.Mappings())
			}
			at := fc.Next(t, week+time.Hour)
			if !at.Before(e.Expires) {
				t.Fatalf("renewal %d scheduled at %v, not before the entry ends at %v", i, at, e.Expires)
			}
			adds := gw.Requests("AddPortMapping")
			fc.AdvanceTo(at)
			ev := wantEvents(t, m, Renewed)[0]
			// Lease 0 again at once: no second 725 round.
			if n := gw.Requests("AddPortMapping") - adds; n != 1 {
				t.Fatalf("renewal %d sent %d AddPortMapping, want 1", i, n)
			}
			if !ev.Expires.Equal(at.Add(week)) {
				t.Fatalf("renewal %d: expires %v, want a week after %v", i, ev.Expires, at)
			}
		}
		// Three half-week renewals: past the first week, the entry lives on.
		if d := fc.Now().Sub(start); d <= week {
			t.Fatalf("only %v went by", d)
		}
		if e, ok := entry(gw, "TCP", 4700); !ok || e.Expires.Before(fc.Now().Add(week/2)) {
			t.Fatalf("after %v: %+v", fc.Now().Sub(start), gw.Mappings())
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		// When the entry cannot be read back, IGD:2's week is assumed.
		gw, c, fc := sharedClock(t, gatewaytest.Config{RequireZeroLease: true}, UPnP)
		gw.FailAction("GetSpecificPortMappingEntry", 501)
		m := mustMap(t, c, Request{InternalPort: 4701, Lifetime: time.Hour})
		fc.WaitSettled(t)
		if m.Lifetime() != week || !m.Expires().Equal(fc.Now().Add(week)) {
			t.Fatalf("lease %v, expires %v: want a week", m.Lifetime(), m.Expires())
		}
		e, ok := entry(gw, "TCP", 4701)
		if !ok {
			t.Fatalf("table %+v", gw.Mappings())
		}
		at := fc.Next(t, week+time.Hour)
		if !at.Before(e.Expires) {
			t.Fatalf("renewal at %v, not before the entry ends at %v", at, e.Expires)
		}
		fc.AdvanceTo(at)
		wantEvents(t, m, Renewed)
		if e2, ok := entry(gw, "TCP", 4701); !ok || !e2.Expires.After(e.Expires) {
			t.Fatalf("entry not extended: %+v", gw.Mappings())
		}
	})
}
