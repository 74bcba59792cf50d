package upnpmap

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustMap(t *testing.T, c *Client, r Request) *Mapping {
	t.Helper()
	m, err := c.Map(context.Background(), r)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestRenewedBeforeExpiry(t *testing.T) {
	f := newFake(NATPMP)
	f.lifetime = 100 * time.Second
	c, fc := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 8080, ExternalPort: 9000})
	if m.Method() != NATPMP || m.External().Port() != 9000 || m.Internal().Port() != 8080 {
		t.Fatalf("mapping %v %v -> %v", m.Method(), m.External(), m.Internal())
	}
	for i := 0; i < 4; i++ {
		exp := m.Expires()
		at := fc.Next(t, time.Hour)
		if want := exp.Add(-50 * time.Second); !at.Equal(want) {
			t.Fatalf("renewal %d scheduled %v before expiry, want 50s (half the granted 100s)", i, exp.Sub(at))
		}
		fc.AdvanceTo(at)
		ev := wantEvents(t, m, Renewed)[0]
		if !ev.Expires.After(exp) || !m.Expires().Equal(ev.Expires) {
			t.Fatalf("renewal %d: expiry %v not extended past %v", i, ev.Expires, exp)
		}
		if ev.External != m.External() {
			t.Fatalf("event external %v, mapping %v", ev.External, m.External())
		}
	}
	// Each renewal suggested the granted port, not the wish.
	for i, p := range f.prevs[1:] {
		if p == nil || p.external.Port() != 9000 {
			t.Fatalf("renewal %d suggested %v", i, p)
		}
	}
	noEvent(t, m)
}

func TestRenewalUsesGrantedLifetime(t *testing.T) {
	f := newFake(UPnP)
	f.lifetime = 10 * time.Second // the gateway grants less than asked
	c, fc := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 8080, Lifetime: time.Hour})
	at := fc.Next(t, time.Hour)
	if d := m.Expires().Sub(at); d != 5*time.Second {
		t.Fatalf("renewal %v before expiry, want 5s (half the granted lifetime)", d)
	}
}

func TestPCPRetriesThenLostThenRestored(t *testing.T) {
	f := newFake(PCP)
	f.lifetime = 100 * time.Second
	c, fc := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 5000})
	start := m.Expires().Add(-100 * time.Second)
	f.set(func(f *fakeMapper) { f.failRenew = errFake })
	// rand = 0.5: 56.25 s, 78.125 s, 89.0625 s, 94.53125 s, then the 4 s
	// minimum gap: 98.53125 s, then nothing fits before 100 s: one last try at
	// 102.53125 s, which finds the lease expired.
	want := []float64{56250, 78125, 89062.5, 94531.25, 98531.25, 102531.25}
	for i, w := range want {
		at := fc.Next(t, time.Hour)
		if got := at.Sub(start); got != time.Duration(w*float64(time.Millisecond)) {
			t.Fatalf("attempt %d at %v, want %vms", i, got, w)
		}
		fc.AdvanceTo(at)
		wantEvents(t, m, Failed)
	}
	ev := wantEvents(t, m, Lost)[0]
	if !errors.Is(ev.Err, errFake) {
		t.Fatalf("Lost err %v", ev.Err)
	}
	// Restoration backs off from 4 s.
	at := fc.Next(t, time.Hour)
	if d := at.Sub(fc.Now()); d != 4*time.Second {
		t.Fatalf("first restoration after %v, want 4s", d)
	}
	fc.AdvanceTo(at)
	wantEvents(t, m, Failed)
	at = fc.Next(t, time.Hour)
	if d := at.Sub(fc.Now()); d != 8*time.Second {
		t.Fatalf("second restoration after %v, want 8s", d)
	}
	f.set(func(f *fakeMapper) { f.failRenew = nil })
	fc.AdvanceTo(at)
	ev = wantEvents(t, m, Restored)[0]
	if ev.External != m.External() || !m.Expires().After(fc.Now()) {
		t.Fatalf("restored %v, expires %v", ev.External, m.Expires())
	}
	// Back on the normal schedule.
	at = fc.Next(t, time.Hour)
	if d := m.Expires().Sub(at); d != 43750*time.Millisecond {
		t.Fatalf("next renewal %v before expiry, want 43.75s", d)
	}
}

func TestResetInResponseRestoresAll(t *testing.T) {
	f := newFake(NATPMP)
	c, fc := fakeClient(t, f)
	a := mustMap(t, c, Request{InternalPort: 1000, Lifetime: 100 * time.Second})
	b := mustMap(t, c, Request{InternalPort: 2000, Lifetime: 1000 * time.Second})
	f.set(func(f *fakeMapper) { f.reset = true })
	fc.AdvanceTo(fc.Next(t, time.Hour)) // a's renewal: the gateway rebooted
	wantEvents(t, a, Lost, Restored)
	// b learns of it from a's exchange and restores at once.
	evs := wantEvents(t, b, Lost, Restored)
	if !errors.Is(evs[0].Err, errGatewayReset) {
		t.Fatalf("b lost: %v", evs[0].Err)
	}
	if n := f.count("renew"); n != 2 {
		t.Fatalf("%d renewals, want 2", n)
	}
	noEvent(t, a)
	noEvent(t, b)
}

func TestExternalAddressChangedOnRenewal(t *testing.T) {
	f := newFake(PCP)
	c, fc := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 1000, Lifetime: 100 * time.Second})
	newAddr := netip.MustParseAddr("198.51.100.20")
	f.set(func(f *fakeMapper) { f.external = newAddr })
	fc.AdvanceTo(fc.Next(t, time.Hour))
	evs := wantEvents(t, m, Renewed, ExternalAddressChanged)
	if evs[1].External.Addr() != newAddr || m.External().Addr() != newAddr {
		t.Fatalf("event %v, mapping %v", evs[1].External, m.External())
	}
}

func TestAnnouncements(t *testing.T) {
	f := newFake(NATPMP)
	c, fc := fakeClient(t, fakeAnnouncee{f})
	m := mustMap(t, c, Request{InternalPort: 1000, Lifetime: time.Hour})
	var st annState
	newAddr := netip.MustParseAddr("198.51.100.21")
	f.set(func(f *fakeMapper) { f.external = newAddr })
	m.gw.onAnnouncement(&st, []byte("addr:198.51.100.21"))
	evs := wantEvents(t, m, Renewed, ExternalAddressChanged)
	if evs[1].External.Addr() != newAddr {
		t.Fatalf("new external %v", evs[1].External)
	}
	// Copies of the same announcement change nothing.
	m.gw.onAnnouncement(&st, []byte("addr:198.51.100.21"))
	m.gw.onAnnouncement(&st, []byte("plain"))
	noEvent(t, m)
	if n := f.count("renew"); n != 1 {
		t.Fatalf("%d renewals after copies, want 1", n)
	}
	// Garbage is ignored.
	m.gw.onAnnouncement(&st, []byte{0, 1, 2})
	// A reset (reboot) restores at once, even within the quiet period...
	fc.Advance(2 * time.Second) // ...but not within 1 s of the last renewal
	m.gw.onAnnouncement(&st, []byte("reset"))
	wantEvents(t, m, Lost, Restored)
	// Much later, a plain announcement renews again.
	fc.Advance(announceQuiet)
	m.gw.onAnnouncement(&st, []byte("plain"))
	wantEvents(t, m, Renewed)
}

func TestAnnouncementRespectsPCPGap(t *testing.T) {
	f := newFake(PCP)
	c, fc := fakeClient(t, fakeAnnouncee{f})
	m := mustMap(t, c, Request{InternalPort: 1000, Lifetime: time.Hour})
	var st annState
	m.gw.onAnnouncement(&st, []byte("plain"))
	wantEvents(t, m, Renewed)
	// A second announcement with news, 1 s later: PCP renewals stay 4 s apart.
	fc.Advance(time.Second)
	m.gw.onAnnouncement(&st, []byte("addr:198.51.100.1"))
	at := fc.Next(t, 10*time.Second)
	if d := at.Sub(fc.Now()); d != 3*time.Second {
		t.Fatalf("renewal in %v, want 3s (4 s after the previous)", d)
	}
	fc.AdvanceTo(at)
	wantEvents(t, m, Renewed)
}

func TestUPnPPolling(t *testing.T) {
	f := newFake(UPnP)
	c, fc := fakeClient(t, f)
	c.PollInterval = 30 * time.Second
	m := mustMap(t, c, Request{InternalPort: 1000, Lifetime: time.Hour})
	// First poll: all well, nothing to report.
	at := fc.Next(t, time.Minute)
	if d := at.Sub(fc.Now()); d != 30*time.Second {
		t.Fatalf("poll in %v", d)
	}
	fc.AdvanceTo(at)
	at = fc.Next(t, time.Minute)
	if f.count("check") != 1 {
		t.Fatalf("checks: %d", f.count("check"))
	}
	noEvent(t, m)
	// The router purged its table (Tailscale #10597): Lost, re-created.
	f.set(func(f *fakeMapper) { delete(f.table, m.External().Port()) })
	fc.AdvanceTo(at)
	evs := wantEvents(t, m, Lost, Restored)
	if !errors.Is(evs[0].Err, ErrNoSuchEntry) {
		t.Fatalf("lost: %v", evs[0].Err)
	}
	// A new external address is reported by the next poll.
	newAddr := netip.MustParseAddr("198.51.100.22")
	f.set(func(f *fakeMapper) { f.external = newAddr })
	fc.AdvanceTo(fc.Next(t, time.Minute))
	ev := wantEvents(t, m, ExternalAddressChanged)[0]
	if ev.External.Addr() != newAddr || m.External().Addr() != newAddr {
		t.Fatalf("event %v, mapping %v", ev.External, m.External())
	}
	// A failing check is reported and retried at the next poll.
	f.set(func(f *fakeMapper) { f.checkErr = errFake })
	fc.AdvanceTo(fc.Next(t, time.Minute))
	if ev := wantEvents(t, m, Failed)[0]; !errors.Is(ev.Err, errFake) {
		t.Fatalf("failed: %v", ev.Err)
	}
}

func TestPermanentLease(t *testing.T) {
	f := newFake(UPnP)
	f.lifetime = -1 // the fake grants lease 0
	c, _ := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 1000})
	if !m.Expires().IsZero() || m.Lifetime() != 0 {
		t.Fatalf("permanent lease expires %v", m.Expires())
	}
	time.Sleep(10 * time.Millisecond)
	if f.count("renew") != 0 {
		t.Fatal("a permanent lease was renewed")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if f.count("unmap") != 1 || len(f.table) != 0 {
		t.Fatalf("Close did not delete: %v", f.calls)
	}
}

func TestCloseAndDetach(t *testing.T) {
	f := newFake(PCP)
	c, _ := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 1000})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.Detach()
	if _, ok := <-m.Events(); ok {
		t.Fatal("events open after Close")
	}
	if n := f.count("unmap"); n != 1 {
		t.Fatalf("%d deletes, want 1", n)
	}
	d := mustMap(t, c, Request{InternalPort: 2000})
	d.Detach()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.count("unmap"); n != 1 || !f.table[2000] {
		t.Fatalf("Detach deleted the mapping (%d deletes)", n)
	}
	if d.External().Port() != 2000 || d.Method() != PCP {
		t.Fatal("accessors broken after Detach")
	}
	if len(m.gw.live()) != 0 {
		t.Fatal("mappings still registered")
	}
}

func TestEventsDropOldest(t *testing.T) {
	m := &Mapping{events: make(chan Event, eventBuffer), log: (&Client{}).log()}
	for i := 0; i < eventBuffer+5; i++ {
		m.emit(Event{Kind: Renewed, Time: time.Unix(int64(i), 0)})
	}
	for i := 5; i < eventBuffer+5; i++ {
		if ev := <-m.events; ev.Time.Unix() != int64(i) {
			t.Fatalf("got event %d, want %d", ev.Time.Unix(), i)
		}
	}
	if len(m.events) != 0 {
		t.Fatal("extra events")
	}
}

func TestGatewayCallsSerialised(t *testing.T) {
	f := newFake(UPnP)
	c, _ := fakeClient(t, f)
	errc := make(chan error, 8)
	ms := make(chan *Mapping, 8)
	for i := 0; i < 8; i++ {
		go func() {
			m, err := c.Map(context.Background(), Request{InternalPort: uint16(1000 + i)})
			errc <- err
			ms <- m
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		defer (<-ms).Close()
	}
	if f.concurrent {
		t.Fatal("two calls reached the gateway at once")
	}
}

// TestRenewalNetworkFailureRetriesSoon: a renewal the gateway answers with
// a network failure (it has no uplink for the moment, as miniupnpd while its
// external address changes) is tried again after the method's gap, doubling,
// not at the next point of the lease's schedule an hour later.
func TestRenewalNetworkFailureRetriesSoon(t *testing.T) {
	f := newFake(NATPMP)
	f.lifetime = 2 * time.Hour
	c, fc := fakeClient(t, f)
	m := mustMap(t, c, Request{InternalPort: 8080})
	f.set(func(f *fakeMapper) { f.failRenew = errors.Join(errFake, ErrNetworkFailure) })
	fc.AdvanceTo(fc.Next(t, 2*time.Hour)) // the first renewal, an hour in
	wantEvents(t, m, Failed)

	at := fc.Next(t, 2*time.Hour)
	if d, want := at.Sub(fc.Now()), restoreBackoff(NATPMP, 0); d != want {
		t.Fatalf("first retry after %v, want %v", d, want)
	}
	fc.AdvanceTo(at)
	wantEvents(t, m, Failed)

	at = fc.Next(t, 2*time.Hour)
	if d, want := at.Sub(fc.Now()), restoreBackoff(NATPMP, 1); d != want {
		t.Fatalf("second retry after %v, want %v", d, want)
	}
	f.set(func(f *fakeMapper) { f.failRenew = nil }) // the uplink is back
	fc.AdvanceTo(at)
	wantEvents(t, m, Renewed)
}
