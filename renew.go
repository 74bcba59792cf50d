package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Signals to a mapping's renewer, as bits of Mapping.pending.
const (
	// sigRenew: the gateway announced something (or another method saw it
	// lose state): renew now (PCP, NAT-PMP) or check (UPnP).
	sigRenew uint32 = 1 << iota
	// sigReset: the gateway lost its state, learned by another mapping's
	// exchange or an announcement: the mapping is gone; re-create it (no
	// sooner than the gateway's reset round, see resetGate).
	sigReset
	// sigUnstable: the gateway keeps losing its state; raise Unstable.
	sigUnstable
	// sigExternal: a GENA event carried the external address (UPnP; see
	// subscriber).
	sigExternal
)

// errGatewayReset is the Err of a Lost event caused by an epoch reset.
var errGatewayReset = errors.New("the gateway lost its mappings (epoch reset: reboot or new external address)")

// errUnstable is the Err of an Unstable event.
var errUnstable = errors.New("the gateway keeps losing its mappings (epoch resets in a row); re-creating them with a growing backoff")

// never is the timer duration when nothing is scheduled.
const never = time.Duration(1<<63 - 1)

// signal wakes the renewer with the bits of sig; it never blocks.
func (m *Mapping) signal(sig uint32) {
	m.pending.Or(sig)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// renewer is the state of a mapping's renewal goroutine.
type renewer struct {
	m        *Mapping
	fails    int       // failed attempts since the last grant
	restores int       // restoration attempts since the mapping was lost
	last     time.Time // last renewal attempt
	lost     bool      // the mapping is known to be gone; attempts restore it
	next     time.Time // next renewal or restoration; zero = none
	nextPoll time.Time // next UPnP check; zero = none
}

// settleDelay is how long a new mapping's goroutine waits before it opens
// the gateway's announcement listener and reads a new UPnP entry back. Map
// has returned by then; a mapping detached (or closed) at once — the CLI's
// `add` detaches right after Map — does neither, and joins no multicast
// group only to leave it again.
const settleDelay = 20 * time.Millisecond

// renewLoop is the mapping's goroutine: it sleeps until the next renewal,
// check or signal, acts, and reschedules, until Close or Detach cancels ctx.
// Its first act, settleDelay after Map, is settle.
func (m *Mapping) renewLoop(ctx context.Context) {
	defer close(m.done)
	r := &renewer{m: m}
	r.plan(m.grant())
	t := m.clk.NewTimer(r.wait())
	defer t.Stop()
	// Real time, not the renewers' clock: this is about Map's caller, and
	// tests that step the clock should not see it.
	settle := time.NewTimer(m.c.settleDelay())
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-settle.C:
			r.settle(ctx)
		case <-m.wake:
			r.onSignal(ctx, m.pending.Swap(0))
		case <-t.C():
			r.onTimer(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		t.Reset(r.wait())
	}
}

func (r *renewer) now() time.Time { return r.m.clk.Now() }

// settle finishes what Map left to the goroutine: the announcement listener
// of the gateway (opened with its first live mapping) and the read-back of a
// new UPnP entry (see verifier). A gateway that accepted the mapping but does
// not hold it, or forwards the port elsewhere, makes the mapping Lost; it is
// then restored at once, as any vanished entry (the restoration reads its
// entry back itself, and moves to another port unless ExactPort). A gateway
// that cannot say is believed.
func (r *renewer) settle(ctx context.Context) {
	m := r.m
	m.gw.listen(m)
	g := m.grant()
	v, ok := m.mp.(verifier)
	if !ok || !g.unverified {
		return
	}
	err := m.gw.callExempt(ctx, func(ctx context.Context) error { // part of the first Map
		return v.verify(ctx, m.q, g)
	})
	if ctx.Err() != nil {
		return // closing
	}
	now := r.now()
	if errors.Is(err, errGone) {
		m.log.Warn("the gateway does not hold the new mapping", "external", g.external, "err", errText(err))
		if !r.lost {
			r.lost = true
			m.emit(Event{Kind: Lost, External: g.external, Expires: g.expires(), Err: err, Time: now})
		}
		r.fails, r.restores = 0, 0
		r.next = now
		return
	}
	if err != nil {
		m.log.Debug("UPnP verification not possible", "err", errText(err))
	}
	ng := *g
	ng.unverified = false
	m.setGrant(&ng)
}

// wait is the time until the earliest scheduled action.
func (r *renewer) wait() time.Duration {
	var at time.Time
	for _, t := range []time.Time{r.next, r.nextPoll} {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() {
		return never
	}
	return max(at.Sub(r.now()), 0)
}

// plan schedules the first renewal of a fresh grant and the next check.
func (r *renewer) plan(g *grant) {
	r.next = time.Time{}
	if !g.permanent() {
		// PCP renewals stay pcpMinGap apart even after a success (RFC 6887
		// §11.2.1); the other methods only space their retries.
		var last time.Time
		if r.m.mp.method() == PCP {
			last = r.last
		}
		var ok bool
		if r.next, ok = renewalTime(r.m.mp.method(), g.start, g.lifetime, 0, last, r.m.c.rand()); !ok {
			r.next = maxTime(g.expires(), r.last.Add(renewGap(PCP)))
		}
	}
	r.planPoll()
}

func (r *renewer) planPoll() {
	r.nextPoll = time.Time{}
	_, pinhole := r.m.mp.(pinholeMapper) // polled for a new prefix and a reboot
	if iv := r.m.c.pollInterval(); iv > 0 && (r.m.mp.method() == UPnP || pinhole) {
		r.nextPoll = r.now().Add(iv)
	}
}

func (r *renewer) onTimer(ctx context.Context) {
	now := r.now()
	if !r.next.IsZero() && !now.Before(r.next) {
		r.renew(ctx) // a UPnP renewal checks the entry first
		return
	}
	if !r.nextPoll.IsZero() && !now.Before(r.nextPoll) {
		r.poll(ctx)
	}
}

// onSignal acts on what the gateway passed on. A signal may bring the next
// attempt earlier, never push it later: a flood of signals cannot starve a
// renewal or a restoration.
func (r *renewer) onSignal(ctx context.Context, sig uint32) {
	m, now := r.m, r.now()
	method := m.mp.method()
	if sig&sigUnstable != 0 {
		m.emit(Event{Kind: Unstable, External: m.External(), Expires: m.Expires(), Err: errUnstable, Time: now})
	}
	if sig&sigReset != 0 {
		if !r.lost {
			r.lost = true
			m.emit(Event{Kind: Lost, External: m.External(), Expires: m.Expires(), Err: errGatewayReset, Time: now})
		}
		r.fails, r.restores = 0, 0
		r.sooner(maxTime(now.Add(m.c.jitter(method)), m.gw.resets.notBefore()))
		return
	}
	if sig&sigExternal != 0 && method == UPnP {
		r.pushed()
	}
	if sig&sigRenew != 0 {
		if method == UPnP {
			r.poll(ctx)
			return
		}
		// No random delay here: a confirmed announcement had it once per
		// burst (see gateway.confirm).
		at := now
		if !r.last.IsZero() {
			at = maxTime(at, r.last.Add(renewGap(method)))
		}
		r.sooner(at)
	}
}

// sooner moves the next attempt to at if that is earlier (or none is
// planned).
func (r *renewer) sooner(at time.Time) {
	if r.next.IsZero() || at.Before(r.next) {
		r.next = at
	}
}

// renew renews (or, when lost, re-creates) the mapping and reports the
// outcome.
func (r *renewer) renew(ctx context.Context) {
	m := r.m
	method := m.mp.method()
	prev := m.grant()
	r.last = r.now()
	var g *grant
	err := m.gw.call(ctx, func(ctx context.Context) (err error) {
		g, err = m.mp.mapPort(ctx, m.q, prev)
		return err
	})
	if ctx.Err() != nil {
		return // closing
	}
	now := r.now()
	if err != nil {
		r.fails++
		m.log.Warn("renewal failed", "attempt", r.fails, "lost", r.lost, "err", errText(err))
		m.emit(Event{Kind: Failed, External: prev.external, Expires: prev.expires(), Err: err, Time: now})
		if !r.lost && !prev.permanent() && !now.Before(prev.expires()) {
			r.lost, r.restores = true, 0
			m.emit(Event{Kind: Lost, External: prev.external, Expires: prev.expires(),
				Err: fmt.Errorf("lease expired without renewal: %w", err), Time: now})
		}
		switch {
		case r.lost || prev.permanent():
			r.next = now.Add(restoreBackoff(method, r.restores))
			r.restores++
		default:
			var ok bool
			r.next, ok = renewalTime(method, prev.start, prev.lifetime, r.fails, r.last, m.c.rand())
			if !ok {
				// No attempt fits before the end: try once more at the end;
				// failing then, the mapping is lost.
				r.next = maxTime(prev.expires(), r.last.Add(renewGap(method)))
			}
			if errors.Is(err, ErrNetworkFailure) {
				// The gateway has no uplink for the moment (NAT-PMP 3, PCP
				// NETWORK_FAILURE), as while its external address changes
				// (miniupnpd answers so between the change and its new
				// STUN result): that passes in seconds, and the renewal an
				// announcement prompted must not wait for the next point
				// of the lease's schedule, which may be an hour away.
				r.sooner(now.Add(restoreBackoff(method, r.fails-1)))
			}
		}
		return
	}
	g.start = now
	m.setGrant(g)
	ev := Event{External: g.external, Expires: g.expires(), Time: now}
	switch {
	case r.lost || g.reset:
		if !r.lost {
			m.emit(Event{Kind: Lost, External: prev.external, Expires: prev.expires(), Err: errGatewayReset, Time: now})
		}
		ev.Kind = Restored
		m.log.Info("restored", "external", g.external)
	default:
		ev.Kind = Renewed
		m.log.Debug("renewed", "external", g.external, "lifetime", g.lifetime)
	}
	m.emit(ev)
	if g.external != prev.external {
		m.log.Info("external address changed", "old", prev.external, "new", g.external)
		m.emit(Event{Kind: ExternalAddressChanged, External: g.external, Expires: g.expires(), Time: now})
	}
	if g.reset {
		m.gw.noteReset(m, method)
	}
	r.lost, r.fails, r.restores = false, 0, 0
	r.plan(g)
}

// poll checks a UPnP mapping: re-creates it when it vanished, reports a new
// external address.
func (r *renewer) poll(ctx context.Context) {
	m := r.m
	prev := m.grant()
	var ext netip.Addr
	err := errNoCheck
	if tr, reads := m.mp.(tableReader); reads {
		err = m.gw.call(ctx, func(ctx context.Context) (err error) {
			ext, err = tr.check(ctx, m.q, prev)
			return err
		})
	}
	if ctx.Err() != nil {
		return
	}
	now := r.now()
	r.planPoll()
	switch {
	case errors.Is(err, errNoCheck):
	case errors.Is(err, errGone):
		m.log.Warn("mapping vanished from the gateway", "external", prev.external)
		if !r.lost {
			r.lost = true
			m.emit(Event{Kind: Lost, External: prev.external, Expires: prev.expires(), Err: err, Time: now})
		}
		r.fails, r.restores = 0, 0
		r.next = now // restore at once
	case err != nil:
		m.log.Warn("check failed", "err", errText(err))
		m.emit(Event{Kind: Failed, External: prev.external, Expires: prev.expires(), Err: err, Time: now})
	case ext.IsValid() && ext != prev.external.Addr():
		g := *prev
		g.external = netip.AddrPortFrom(ext, prev.external.Port())
		g.reset = false
		m.setGrant(&g)
		m.log.Info("external address changed", "old", prev.external, "new", g.external)
		m.emit(Event{Kind: ExternalAddressChanged, External: g.external, Expires: g.expires(), Time: now})
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
