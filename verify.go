package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/upnpmap/upnpmap/reach"
)

// Verification is what Mapping.Verify learned: whether the Internet gets
// through the mapping, as a checker saw it.
type Verification struct {
	// Result is the checker's verdict for the mapping's address family (the
	// other family is Unchecked).
	Result reach.Result
	// Outcome is the verdict of the mapping's family, taken from Result.
	Outcome reach.Outcome
	// NAT compares the address the checker saw with the mapping's external
	// address: reach.NATUpstream means another NAT sits between the router
	// and the Internet (UPSTREAM_NAT), so no mapping on this router alone
	// can be reached: Verify does not re-create it, but chains it through
	// the upstream router (double NAT, see Mapping.Legs) when the checker
	// saw a public address and chaining is on; it is NAT of the first
	// check, and Healed says whether the chained mapping got through.
	NAT reach.NAT
	// Healed: the checker could not get through, the router still listed
	// the mapping, and after Verify deleted and re-created it the checker
	// got through.
	Healed bool
}

// Reachable reports whether the checker got through (at the end, after a
// heal).
func (v Verification) Reachable() bool { return v.Outcome.Verdict == reach.Open }

// verifyState is what a Mapping remembers between Verify calls, so that an
// unreachable mapping is reported and healed once per spell, not at every
// check: a check every minute must not become a delete and re-create every
// minute on a router that forwards nothing.
type verifyState struct {
	unreachable bool // Unreachable was raised and no Open verdict came since
}

// Verify asks the Client's Checker whether the mapping's external port is
// reachable from the Internet, and reports it as an event: Verified (open),
// NothingListening (the path may be fine but nothing listens on the internal
// port), or Unreachable. When the checker cannot get through although the
// router still lists the mapping, Verify deletes and re-creates it once and
// checks again: Healed when that helped. Further Verify calls of the same
// unreachable spell raise nothing and send nothing to the router, until a
// check finds the mapping open again. When the checker sees this machine at
// another public address than the gateway's (UPSTREAM_NAT), Verify chains
// the mapping through the upstream router instead (Client.Upstream, or the
// one the probe finds), as Map does when the gateway's own address says
// double NAT, and checks again; Mapping.UpstreamErr says why when no
// upstream leg could be made.
//
// The error is nil when the checker gave a verdict, whatever it was; it
// wraps ErrInvalidArgs without a Checker, and the reach package's errors
// (reach.ErrCheckerDown, …) when the checker gave none.
func (m *Mapping) Verify(ctx context.Context) (Verification, error) {
	m.vmu.Lock() // one Verify at a time per mapping: the spell is shared
	defer m.vmu.Unlock()
	v, err := m.check(ctx)
	if err != nil {
		return v, err
	}
	g := m.grant()
	switch v.Outcome.Verdict {
	case reach.Open:
		m.vstate.unreachable = false
		m.emitOutside(Event{Kind: Verified, External: g.external, Expires: g.expires(), Time: m.clk.Now()})
		return v, nil
	case reach.NothingListening:
		m.log.Warn("nothing listens on the internal port", "internal", g.internal)
		m.emitOutside(Event{Kind: NothingListening, External: g.external, Expires: g.expires(),
			Err: fmt.Errorf("nothing listens on %v; start the application", g.internal), Time: m.clk.Now()})
		return v, nil
	}
	if m.vstate.unreachable {
		return v, nil // reported already; heal once per spell
	}
	m.vstate.unreachable = true
	cause := unreachableCause(v)
	m.log.Warn("the checker cannot reach the mapping", "external", g.external, "verdict", v.Outcome.Verdict, "nat", v.NAT)
	m.emitOutside(Event{Kind: Unreachable, External: g.external, Expires: g.expires(), Err: cause, Time: m.clk.Now()})
	if v.NAT == reach.NATUpstream && m.chainLate(ctx, v) {
		return m.recheck(ctx, v)
	}
	if v.NAT == reach.NATUpstream || v.NAT == reach.NATPrivate {
		return v, nil // no re-creation on this router can help
	}
	if !m.healAll(ctx) {
		return v, nil
	}
	return m.recheck(ctx, v)
}

// recheck asks the checker again after Verify re-created or chained the
// mapping: Healed when it gets through now; v (the first verdict) when the
// checker gives none.
func (m *Mapping) recheck(ctx context.Context, v Verification) (Verification, error) {
	again, err := m.check(ctx)
	if err != nil {
		return v, err
	}
	if again.Outcome.Verdict != reach.Open {
		return again, nil
	}
	again.Healed = true
	m.vstate.unreachable = false
	g := m.grant()
	m.log.Info("healed: reachable after re-creating the mapping", "external", m.External())
	m.emitOutside(Event{Kind: Healed, External: m.External(), Expires: g.expires(), Time: m.clk.Now()})
	return again, nil
}

// healAll re-creates the mapping (healLive) and, for a chained mapping,
// its upstream leg too (chain.heal): the checker saw only that the
// outermost port does not get through, and either router's forward may be
// the stale one. An upstream leg that moved is reported on leg 1. It
// reports whether any leg was re-created, so that a second check is worth
// asking for.
func (m *Mapping) healAll(ctx context.Context) bool {
	live, err := m.healLive(ctx)
	if !live {
		return false
	}
	healed := err == nil
	if err != nil {
		m.log.Warn("re-creating the unreachable mapping failed", "err", errText(err))
	}
	ch := m.chain.Load()
	if ch == nil {
		return healed
	}
	moved, err := ch.heal(ctx)
	if err != nil {
		m.log.Warn("re-creating the unreachable upstream leg failed", "upstream", ch.up, "err", errText(err))
		return healed
	}
	if o := ch.outerMapping(); moved && o != nil {
		m.emitOutside(Event{Kind: ExternalAddressChanged, External: o.External(), Expires: o.Expires(), Time: m.clk.Now(), Leg: 1})
	}
	return true
}

// unreachableCause is the Err of an Unreachable event.
func unreachableCause(v Verification) error {
	switch v.NAT {
	case reach.NATUpstream:
		return fmt.Errorf("the checker saw %v, not the router's external address: another NAT upstream (UPSTREAM_NAT)", v.Outcome.Observed.Addr())
	case reach.NATPrivate:
		return errors.New("the router's external address is not public (double NAT or CGNAT)")
	}
	return fmt.Errorf("the checker's probe was %v", v.Outcome.Verdict)
}

// check asks the checker about the mapping's external port, for the
// mapping's address family.
func (m *Mapping) check(ctx context.Context) (Verification, error) {
	var v Verification
	if m.c.Checker == "" {
		return v, fmt.Errorf("upnpmap: %w: no checker to verify with (Client.Checker)", ErrInvalidArgs)
	}
	g := m.grant()
	rc := reach.Client{}
	if m.c.Reach != nil {
		rc = *m.c.Reach
	}
	rc.LocalPort = g.internal.Port()
	if rc.Network == "" {
		rc.Network = "ip4"
		if g.external.Addr().Is6() || (!g.external.Addr().IsValid() && g.internal.Addr().Is6()) {
			rc.Network = "ip6"
		}
	}
	proto := reach.TCP
	if m.q.proto == UDP {
		proto = reach.UDP
	}
	check := m.c.checkFn
	if check == nil {
		check = rc.Check
	}
	ext := m.External() // the outermost leg's, when chained (chain.go)
	res, err := check(ctx, m.c.Checker, ext.Port(), proto)
	v.Result = res
	v.Outcome = res.IPv4
	if rc.Network == "ip6" {
		v.Outcome = res.IPv6
	}
	if err != nil {
		return v, fmt.Errorf("upnpmap: verify %s %v with %s: %w", m.q.proto, g.external, m.c.Checker, err)
	}
	if v.Outcome.Verdict == reach.NothingListening && !isLocalAddr(g.internal.Addr()) {
		// The checker judged "nothing listens" by this machine's ports, but
		// the mapping leads to another host: a refusal is then the path's.
		v.Outcome.Verdict = reach.Refused
	}
	v.NAT = reach.CompareExternal(v.Outcome.Observed.Addr(), ext.Addr())
	return v, nil
}

// isLocalAddr reports whether a is one of this machine's addresses: only
// those can be bound. An unknown address counts as local.
func isLocalAddr(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// healLive heals the mapping unless it was closed or detached (a mapping
// Close deleted must not come back). It holds emitMu, so a Close or Detach
// meanwhile waits for it, and Close then deletes the re-created mapping.
func (m *Mapping) healLive(ctx context.Context) (live bool, err error) {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	if m.eventsClosed {
		return false, nil
	}
	return true, m.heal(ctx)
}

// heal deletes the mapping and re-creates it at the same external port, when
// the router still lists it (a router that lost it is the renewer's job).
// Both exchanges take tokens of the gateway's governor.
func (m *Mapping) heal(ctx context.Context) error {
	if m.gw == nil {
		// An SSH forward has no router to ask: sshfwd restores it by
		// reconnecting, and re-asking the server changes nothing.
		return fmt.Errorf("upnpmap: %w: an ssh forward is restored by reconnecting, not re-created", ErrUnsupported)
	}
	prev := m.grant()
	if tr, ok := m.mp.(tableReader); ok {
		err := m.gw.call(ctx, func(ctx context.Context) error {
			_, err := tr.check(ctx, m.q, prev)
			return err
		})
		switch {
		case errors.Is(err, errGone):
			m.signal(sigRenew) // the renewer's check restores it
			return err
		case err != nil && !errors.Is(err, errNoCheck):
			return err
		}
	}
	if err := m.gw.call(ctx, func(ctx context.Context) error { return m.mp.unmap(ctx, m.q, prev) }); err != nil {
		return err
	}
	var g *grant
	err := m.gw.call(ctx, func(ctx context.Context) (err error) {
		g, err = m.mp.mapPort(ctx, m.q, prev)
		return err
	})
	if err != nil {
		m.signal(sigRenew) // deleted but not re-created: the renewer retries
		return err
	}
	g.start = m.clk.Now()
	m.setGrant(g)
	return nil
}

// emitOutside is emit for goroutines other than the renewer (Verify): it
// sends nothing once the mapping is closed or detached.
func (m *Mapping) emitOutside(ev Event) {
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	if m.eventsClosed {
		return
	}
	m.emit(ev)
}

// verifyCheck is the signature of reach.Client.Check, a seam for tests.
type verifyCheck func(ctx context.Context, checker string, port uint16, proto reach.Proto) (reach.Result, error)

var _ verifyCheck = (&reach.Client{}).Check
