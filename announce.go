package upnpmap

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/internal/announce"
	"github.com/upnpmap/upnpmap/internal/epoch"
)

// announcee is implemented by the mappers of methods whose gateways announce
// reboots and address changes (NAT-PMP, PCP). Every protocol's parser reads
// the announcements, whichever methods are enabled: miniupnpd 2.3.1 announces
// its start with a PCP ANNOUNCE alone, which a Client that maps by NAT-PMP
// (or UPnP) must not ignore.
type announcee interface {
	// announcement checks a datagram the gateway sent to the announcement
	// address. ok is false when it is not a valid message of this method.
	announcement(b []byte, from netip.AddrPort) (a announcement, ok bool)
}

// announcement is what an announcement told.
type announcement struct {
	reset    bool       // the epoch says the gateway lost its state
	external netip.Addr // the external address, where the message carries one
	epoch    uint32     // the gateway's epoch (seconds since it lost its state)
	hasEpoch bool
	// forNonce: the message is about one mapping (a PCP MAP response,
	// RFC 6887 §14.2), named by nonce; it counts only when it is ours.
	forNonce bool
	nonce    [12]byte
}

// announceQuiet is how long after acting on one announcement further ones
// that say nothing new (no reset, no new address) are ignored: gateways send
// each announcement several times (RFC 6886 §3.2.1: 10 copies over two
// minutes), and one round of renewals is enough.
const announceQuiet = 30 * time.Second

// announcer is a running announcement listener and its goroutine.
type announcer struct {
	l    *announce.Listener
	done chan struct{}
}

// startAnnouncer opens the listener, or returns nil when there is none to
// open (loopback gateway without AnnounceAddr) or it cannot be opened (the
// mappings then rely on renewals alone). Called with gw.mu held.
func (gw *gateway) startAnnouncer() *announcer {
	hasAnnouncee := false
	for _, mp := range gw.all {
		_, ok := mp.(announcee)
		hasAnnouncee = hasAnnouncee || ok
	}
	addr := gw.c.AnnounceAddr
	if !hasAnnouncee || (!addr.IsValid() && gw.addr.IsLoopback()) {
		return nil
	}
	if !addr.IsValid() {
		addr = announce.GroupV4
		if gw.addr.Is6() {
			addr = announce.GroupV6
		}
	}
	l, err := announce.Listen(addr, netip.AddrPortFrom(gw.addr, 5351), gw.local)
	if err != nil {
		gw.log.Warn("not listening for gateway announcements", "err", err)
		return nil
	}
	gw.log.Debug("listening for gateway announcements", "addr", l.LocalAddr())
	a := &announcer{l: l, done: make(chan struct{})}
	go gw.announceLoop(a)
	return a
}

func (a *announcer) stop() {
	a.l.Close()
	<-a.done
}

// announceLoop reads announcements until the listener is closed.
func (gw *gateway) announceLoop(a *announcer) {
	defer close(a.done)
	buf := make([]byte, announce.MaxSize)
	var st annState
	errs := 0
	for {
		n, err := a.l.Receive(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient errors are possible; a socket that keeps failing
			// is given up (renewals still keep the mappings).
			if errs++; errs > 10 {
				gw.log.Warn("announcement listener failing; giving up", "err", err)
				return
			}
			continue
		}
		errs = 0
		gw.onAnnouncement(&st, buf[:n])
	}
}

// annState remembers the last announcement acted on, to skip its copies.
type annState struct {
	last   time.Time   // when an announcement was last acted on
	lastEx netip.Addr  // the external address it carried
	epoch  epoch.Watch // the epochs announcements carried
}

// onAnnouncement acts on a datagram from the gateway. A reset (by the epoch
// check of the protocol's client) restores the mappings (see noteReset);
// any other news — a new external address, an epoch that started over since
// the last announcement, or the first announcement in announceQuiet — makes
// every mapping renew (PCP, NAT-PMP) or check (UPnP) at once, and the
// replies' own epoch checks then tell whether the gateway lost the mappings.
// Copies of an announcement already acted on are ignored.
//
// The epoch check (epoch.NATPMP, RFC 6886 §3.6) allows some slack, so it
// needs as much history: it sees a restart only when the epoch the gateway
// would have reached without one is beyond that slack ahead of the new
// epoch. A gateway whose epoch was still within the slack when we last heard
// from it and that restarts at once looks unchanged. The immediate renewal covers
// that case: a PCP or NAT-PMP renewal is a MAP request, which re-creates the
// mapping on a gateway that lost it (reported as Renewed, not Restored).
func (gw *gateway) onAnnouncement(st *annState, b []byte) {
	from := netip.AddrPortFrom(gw.addr, 5351)
	now := gw.c.clock().Now()
	for _, mp := range gw.all {
		an, ok := mp.(announcee)
		if !ok {
			continue
		}
		ann, ok := an.announcement(b, from)
		if !ok || ann.forNonce && !gw.holds(mp.method(), ann.nonce) {
			continue
		}
		newAddr := ann.external.IsValid() && ann.external != st.lastEx
		restarted := ann.hasEpoch && st.epoch.Observe(epoch.NATPMP, ann.epoch, now)
		if !ann.reset && !newAddr && !restarted && !st.last.IsZero() && now.Sub(st.last) < announceQuiet {
			return // a copy of what we acted on
		}
		gw.log.Info("gateway announcement", "method", mp.method(), "reset", ann.reset, "external", ann.external,
			"epoch", ann.epoch, "epoch_restarted", restarted)
		st.last = now
		if ann.external.IsValid() {
			st.lastEx = ann.external
		}
		if ann.reset {
			gw.noteReset(nil, mp.method())
		} else {
			gw.broadcast(nil, sigRenew, nil)
		}
		return
	}
	gw.log.Debug("ignored a datagram on the announcement address", "len", len(b))
}
