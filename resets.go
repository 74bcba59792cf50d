package upnpmap

import (
	"sync"
	"time"
)

// Coalescing of resets (see resetGate).
const (
	// resetBackoffStart is the gap after a reset round before another may
	// start; it doubles with each round of a streak, up to the mappings'
	// renewal interval.
	resetBackoffStart = time.Second
	// unstableAfter is how many reset rounds in a streak make the gateway
	// look unstable (one Unstable event per streak).
	unstableAfter = 3
)

// resetGate coalesces what the Client learns about a gateway losing its
// state. One reset starts a round: each mapping (but the one that saw it, if
// its own exchange just re-created it) is re-created once. Resets reported
// while a round is planned join it; those that come after it start the next
// round no sooner than the backoff allows: resetBackoffStart, then doubling,
// up to the shortest renewal interval of the gateway's mappings. A reset
// after a quiet spell of one more backoff starts a new streak. A router
// whose epoch goes backwards on every answer (RFC 6886 §3.6 reads each as a
// reboot) thus costs a round at 0, 1, 3, 7 s … instead of a re-map per round
// trip, and the third round of a streak raises Unstable.
type resetGate struct {
	mu        sync.Mutex
	planned   time.Time     // the round planned for later; zero if none
	allowed   time.Time     // no new round before this
	backoff   time.Duration // the gap after the last round
	rounds    int           // rounds in the current streak
	unstable  bool          // Unstable raised for this streak
	everRound bool
}

// admit records a reset seen at now and says when its round runs, whether
// it is a new round (false: it joins one already planned), and whether this
// round makes the gateway look unstable (true once per streak). capGap is
// the longest backoff (the renewal interval).
func (r *resetGate) admit(now time.Time, capGap time.Duration) (at time.Time, newRound, unstable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.planned.After(now) {
		return r.planned, false, false
	}
	if !r.everRound || !now.Before(r.allowed.Add(r.backoff)) {
		// The first reset, or one after a quiet spell: a new streak.
		r.backoff, r.rounds, r.unstable = 0, 0, false
	}
	at = maxTime(now, r.allowed)
	if r.backoff == 0 {
		r.backoff = resetBackoffStart
	} else {
		r.backoff = min(2*r.backoff, max(capGap, resetBackoffStart))
	}
	r.allowed, r.everRound = at.Add(r.backoff), true
	if at.After(now) {
		r.planned = at
	}
	r.rounds++
	if r.rounds >= unstableAfter && !r.unstable {
		r.unstable, unstable = true, true
	}
	return at, true, unstable
}

// notBefore is when the planned reset round runs (zero: none planned).
func (r *resetGate) notBefore() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.planned
}

// noteReset tells the gateway's mappings that it lost its state, as learned
// through method by skip's own exchange (or by a probe or a confirmed
// announcement: skip == nil). An epoch reset seen through PCP or NAT-PMP is
// the one server behind port 5351 losing its table (miniupnpd keeps one
// table and one epoch for both, and for UPnP): the mappings of both
// protocols are re-created, and UPnP mappings are checked (re-created when
// gone). A loss seen through UPnP (a vanished entry, a moved control URL)
// proves less: the others renew or check, and their replies tell. Resets are
// coalesced and backed off (see resetGate).
func (gw *gateway) noteReset(skip *Mapping, method Method) {
	at, newRound, unstable := gw.resets.admit(gw.c.clock().Now(), gw.renewalInterval())
	if !newRound {
		gw.log.Debug("gateway lost its state again; joins the planned round", "seen_by", method, "at", at)
		return
	}
	gw.log.Info("gateway lost its state; restoring mappings", "seen_by", method, "at", at)
	lost := func(m Method) bool { return m == method }
	if method == PCP || method == NATPMP {
		lost = func(m Method) bool { return m == PCP || m == NATPMP }
	}
	gw.broadcast(skip, sigReset, lost)
	gw.broadcast(skip, sigRenew, func(m Method) bool { return !lost(m) })
	if unstable {
		gw.log.Warn("gateway keeps losing its state; it looks unstable", "seen_by", method)
		gw.broadcast(nil, sigUnstable, nil)
	}
}

// renewalInterval is the shortest renewal interval of the gateway's live
// mappings (half the lease), the longest gap between reset rounds.
func (gw *gateway) renewalInterval() time.Duration {
	iv := DefaultLifetime / 2
	for _, m := range gw.live() {
		if g := m.grant(); !g.permanent() {
			iv = min(iv, g.lifetime/2)
		}
	}
	return iv
}
