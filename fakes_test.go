package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock. Its timers fire when Advance passes their
// deadline; Next waits (in real time, briefly) until a timer is armed and
// reports its deadline, which is how tests step a renewer through its
// schedule without racing it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: make(map[*fakeTimer]struct{})}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) timer {
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock and fires the timers that are due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for t := range f.timers {
		if t.armed && !t.when.After(f.now) {
			t.armed = false
			select {
			case t.ch <- f.now:
			default:
			}
		}
	}
}

// AdvanceTo moves the clock to at (if later).
func (f *fakeClock) AdvanceTo(at time.Time) {
	if d := at.Sub(f.Now()); d > 0 {
		f.Advance(d)
	} else {
		f.Advance(0)
	}
}

// Next waits until some timer is armed with a deadline within horizon of
// now and returns the earliest such deadline.
func (f *fakeClock) Next(t testing.TB, horizon time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		var at time.Time
		for tm := range f.timers {
			if tm.armed && tm.when.Sub(f.now) <= horizon && (at.IsZero() || tm.when.Before(at)) {
				at = tm.when
			}
		}
		f.mu.Unlock()
		if !at.IsZero() {
			return at
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no timer armed within %v", horizon)
	return time.Time{}
}

type fakeTimer struct {
	f      *fakeClock
	ch     chan time.Time
	when   time.Time
	armed  bool
	resets int // Reset calls, NewTimer's own among them
}

// WaitSettled waits (bounded) until a mapping's goroutine has handled its
// settle, which comes on a real timer (settleAfter after Map), not on this
// clock: until some timer has been reset twice, by NewTimer and by the loop
// after settle. A test that steps the clock before then can step it between
// the loop's reading of the clock and its Reset, which then arms the timer
// the whole step too late and swallows the tick the test caused.
func (f *fakeClock) WaitSettled(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		done := false
		for tm := range f.timers {
			done = done || tm.resets >= 2
		}
		f.mu.Unlock()
		if done {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the mapping did not settle within 5 s")
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.resets++
	select {
	case <-t.ch:
	default:
	}
	t.f.timers[t] = struct{}{}
	if d >= never/2 {
		t.armed = false
		return
	}
	t.when, t.armed = t.f.now.Add(d), true
	if !t.when.After(t.f.now) {
		t.armed = false
		t.ch <- t.f.now
	}
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.armed = false
	delete(t.f.timers, t)
	select {
	case <-t.ch:
	default:
	}
}

// fakeMapper is a scriptable method. By default it grants the wished port
// for the asked lifetime (or Lifetime, when set) at External.
type fakeMapper struct {
	m Method

	mu         sync.Mutex
	probeErr   error
	probeDelay time.Duration
	probeAlive time.Duration // if > 0: call alive, then work this long
	probeInfo  probeInfo
	lifetime   time.Duration
	external   netip.Addr
	mapErrs    []error // errors for the next mapPort calls, in order
	failRenew  error   // if set, every renewal fails with it
	reset      bool    // the next mapPort reports a reset
	checkErr   error   // next check's error
	table      map[uint16]bool
	probeCause error // why the last probe's context ended, if it did
	calls      []string
	prevs      []*grant
	inFlight   int
	concurrent bool         // saw two calls at once
	announced  announcement // the last announcement parsed (fakeAnnouncee)
}

func newFake(m Method) *fakeMapper {
	return &fakeMapper{m: m, external: netip.MustParseAddr("203.0.113.7"), table: make(map[uint16]bool)}
}

func (f *fakeMapper) method() Method { return f.m }

func (f *fakeMapper) enter(call string) func() {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.inFlight++
	if f.inFlight > 1 {
		f.concurrent = true
	}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}
}

func (f *fakeMapper) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeMapper) set(fn func(f *fakeMapper)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeMapper) probe(ctx context.Context, alive func()) (*probeInfo, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "probe")
	err, delay, aliveFor, info := f.probeErr, f.probeDelay, f.probeAlive, f.probeInfo
	f.mu.Unlock()
	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			f.set(func(f *fakeMapper) { f.probeCause = context.Cause(ctx) })
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
	}
	if err := wait(delay); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if aliveFor > 0 {
		alive()
		if err := wait(aliveFor); err != nil {
			return nil, err
		}
	}
	return &info, nil
}

func (f *fakeMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	name := "map"
	if prev != nil {
		name = "renew"
	}
	defer f.enter(name)()
	time.Sleep(time.Millisecond) // let a concurrent caller overlap, if the lock failed
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prevs = append(f.prevs, prev)
	if len(f.mapErrs) > 0 {
		err := f.mapErrs[0]
		f.mapErrs = f.mapErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	if prev != nil && f.failRenew != nil {
		return nil, f.failRenew
	}
	port := q.wish
	if prev != nil {
		port = prev.external.Port()
	}
	lt := q.lifetime
	if f.lifetime != 0 {
		lt = f.lifetime
	}
	f.table[port] = true
	g := &grant{external: netip.AddrPortFrom(f.external, port), internal: q.internal, lifetime: lt, reset: f.reset}
	if lt < 0 {
		g.lifetime = 0
	}
	f.reset = false
	return g, nil
}

func (f *fakeMapper) unmap(ctx context.Context, q *mapReq, g *grant) error {
	defer f.enter("unmap")()
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.table, g.external.Port())
	return nil
}

func (f *fakeMapper) check(ctx context.Context, q *mapReq, g *grant) (netip.Addr, error) {
	defer f.enter("check")()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m != UPnP {
		return netip.Addr{}, errNoCheck
	}
	if err := f.checkErr; err != nil {
		f.checkErr = nil
		return netip.Addr{}, err
	}
	if !f.table[g.external.Port()] {
		return netip.Addr{}, errGone
	}
	return f.external, nil
}

func (f *fakeMapper) externalAddr(ctx context.Context) (netip.Addr, bool, error) {
	defer f.enter("external")()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.external, false, nil
}

func (f *fakeMapper) list(ctx context.Context) ([]Entry, error) { return nil, nil }

func (f *fakeMapper) remove(ctx context.Context, d DeleteRequest) error {
	defer f.enter("remove")()
	return nil
}

// fakeAnnouncee adds announcement parsing to a fakeMapper: a datagram
// "reset", "addr:<ip>", "epoch:<seconds>" or "plain". Its gateway confirms
// what the last announcement said (counted as "confirm" calls).
type fakeAnnouncee struct{ *fakeMapper }

func (f fakeAnnouncee) confirm(ctx context.Context) (announcement, error) {
	defer f.enter("confirm")()
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.announced
	a.forNonce = false
	return a, nil
}

func (f fakeAnnouncee) announcement(b []byte, from netip.AddrPort) (announcement, bool) {
	a, ok := f.parse(b)
	if ok {
		f.mu.Lock()
		f.announced = a
		f.mu.Unlock()
	}
	return a, ok
}

func (f fakeAnnouncee) parse(b []byte) (announcement, bool) {
	s := string(b)
	switch {
	case s == "reset":
		return announcement{reset: true}, true
	case s == "plain":
		return announcement{}, true
	case len(s) > 6 && s[:6] == "epoch:":
		n, err := strconv.ParseUint(s[6:], 10, 32)
		return announcement{epoch: uint32(n), hasEpoch: true}, err == nil
	case len(s) > 5 && s[:5] == "addr:":
		a, err := netip.ParseAddr(s[5:])
		return announcement{external: a}, err == nil
	}
	return announcement{}, false
}

// fakeClient returns a Client on a loopback gateway whose methods are the
// given fakes, with a fake clock, no jitter and rand fixed at 0.5.
func fakeClient(t testing.TB, fakes ...mapper) (*Client, *fakeClock) {
	fc := newFakeClock()
	c := &Client{
		Gateway:        netip.MustParseAddr("127.0.0.1"),
		ProbeTimeout:   300 * time.Millisecond,
		RequestTimeout: time.Second,
		PollInterval:   -1,
		clk:            fc,
		mappersFor:     func(*gateway) []mapper { return fakes },
		announceJitter: func(Method) time.Duration { return 0 },
		randFloat:      func() float64 { return 0.5 },
	}
	noLiveMappingsAtEnd(t, c)
	return c, fc
}

// nextEvent waits (real time) for the next event.
func nextEvent(t testing.TB, m *Mapping) Event {
	t.Helper()
	select {
	case ev, ok := <-m.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return Event{}
}

// wantEvents reads len(kinds) events and checks their kinds in order.
func wantEvents(t testing.TB, m *Mapping, kinds ...EventKind) []Event {
	t.Helper()
	var evs []Event
	for _, k := range kinds {
		ev := nextEvent(t, m)
		if ev.Kind != k {
			t.Fatalf("event %d: got %v, want %v (so far %v)", len(evs), ev, k, evs)
		}
		evs = append(evs, ev)
	}
	return evs
}

// noEvent checks that no event is pending (after a short real-time wait).
func noEvent(t testing.TB, m *Mapping) {
	t.Helper()
	select {
	case ev := <-m.Events():
		t.Fatalf("unexpected event %v", ev)
	case <-time.After(20 * time.Millisecond):
	}
}

var errFake = errors.New("fake failure")

// fakeMapProber is a fakeMapper whose probe on Map's path is the mapping
// request itself, as PCP's is: after probeDelay, probeErr is an unanswered
// probe (silence, port unreachable), a mapErrs entry the gateway's refusal.
type fakeMapProber struct{ *fakeMapper }

func (f fakeMapProber) probeMap(ctx context.Context, q *mapReq, _ func()) (*grant, bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "probemap")
	err, delay := f.probeErr, f.probeDelay
	f.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	if err != nil {
		return nil, false, err
	}
	g, err := f.mapPort(ctx, q, nil)
	return g, true, err
}
