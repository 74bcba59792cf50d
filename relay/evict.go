package relay

import (
	"cmp"
	"slices"
	"time"
)

// Making room at the caps (MaxConns, MaxSessions).
//
// A full table must not turn newcomers away: a flood of connections that send
// nothing, or of datagrams from spoofed addresses, would otherwise lock out
// every real client until its entries time out. So a newcomer at the cap ends
// the entry that is least likely to be missed:
//
//   - TCP: first the connection on which nothing was sent for at least
//     evictSilentAfter since it was accepted, oldest first (a flood's, or a
//     client that went away before speaking); while silent connections too
//     young to judge remain, nothing else; then the one
//     quiet the longest among those whose both directions are parked (quiet
//     for a slice, see pump.go), so that a long idle SSH session goes before
//     a busy one but a connection moving bytes is never cut;
//   - UDP: the session quiet the longest. UDP has no "never spoke": every
//     session began with a datagram.

// evictSilentAfter is how long a connection must have been silent before a
// newcomer may evict it. A real client speaks (or its server greets it)
// within a round trip of the accept, but not always before the relay has
// dialled the target: without this, a burst of real clients at the cap would
// cut its own newest members instead of queueing them.
const evictSilentAfter = time.Second

// victim picks the TCP connection to evict, or nil when every connection is
// busy, silent for too short a time to judge, or already ending.
func (s *server) victim() *tcpConn {
	var old []*tcpConn // silent long enough, by the counters
	var quiet *tcpConn
	now := s.now()
	s.mu.Lock()
	// A silent connection too new to judge; one still dialling is one.
	young := s.dialling.Load() > 0
	for c := range s.conns {
		switch {
		case c.ending.Load():
		case c.saidNothing():
			if now-c.born < int64(evictSilentAfter) {
				young = true
			} else {
				old = append(old, c)
			}
		case c.parked():
			if quiet == nil || c.last.Load() < quiet.last.Load() {
				quiet = c
			}
		}
	}
	s.mu.Unlock()
	// The system calls of hasUnread are spent on the oldest only, one by
	// one, rather than on every connection of a flood.
	slices.SortFunc(old, func(a, b *tcpConn) int { return cmp.Compare(a.born, b.born) })
	for _, c := range old {
		if !c.hasUnread() {
			return c
		}
	}
	if young || len(old) > 0 {
		// Wait for the young (and those whose first bytes just came) to
		// speak or come of age rather than evict a connection that has
		// spoken: a flood is always young.
		return nil
	}
	return quiet
}

// silent reports whether no byte has moved either way yet.
func (c *tcpConn) silent() bool { return c.saidNothing() && !c.hasUnread() }

// saidNothing reports whether the counters show no byte either way. Bytes
// are counted when a copy returns, so a copy under way counts as speech where
// the parking lot lets us tell (a copy starts only once data is waiting).
func (c *tcpConn) saidNothing() bool {
	if c.upBytes.Load() != 0 || c.downBytes.Load() != 0 {
		return false
	}
	return c.s.lot == nil || (!c.dirs[0].copying.Load() && !c.dirs[1].copying.Load())
}

// hasUnread reports whether bytes arrived on either leg that no copy has
// read yet.
func (c *tcpConn) hasUnread() bool { return hasUnread(c.client) || hasUnread(c.target) }

// parked reports whether neither direction is moving bytes: each is parked
// or done.
func (c *tcpConn) parked() bool {
	return c.dirs[0].state.Load() != dirFlowing && c.dirs[1].state.Load() != dirFlowing
}

// evictIdlest ends the session of this listener quiet the longest, to make
// room for a new one. It reports false when there was none to end.
func (u *udpListener) evictIdlest() bool {
	var v *udpSession
	u.mu.Lock()
	for _, ss := range u.sessions {
		if v == nil || ss.last.Load() < v.last.Load() {
			v = ss
		}
	}
	u.mu.Unlock()
	if v == nil {
		return false
	}
	if v.abort(endEvicted) {
		u.s.stats.evicted.Add(1)
	}
	return true
}
