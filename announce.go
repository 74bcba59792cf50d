package upnpmap

import (
	"context"
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
	// announcement checks a datagram sent to the announcement address from
	// the gateway's address. ok is false when it is not a valid message of
	// this method. Any LAN host can send one with the gateway's source
	// address, so what it says is a hint: it must not touch the state the
	// method's requests are judged by (their epoch history).
	announcement(b []byte, from netip.AddrPort) (a announcement, ok bool)
	// confirm asks the gateway itself, with one unicast request (NAT-PMP:
	// the external address request; PCP: an ANNOUNCE request), what an
	// announcement claimed: reset is the verdict of the method's own epoch
	// check, external the address where the method tells it.
	confirm(ctx context.Context) (announcement, error)
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

// announceBurstGap is how far apart announcements may come and still be one
// burst: a burst is confirmed once (see onAnnouncement). Copies that a
// gateway repeats (RFC 6886 §3.2.1: from 250 ms apart, doubling) and a flood
// from a LAN host both come closer than this; the bursts of a flood that
// lasts are cut every announceQuiet.
const announceBurstGap = 500 * time.Millisecond

// announcer is a running announcement listener and its goroutine.
type announcer struct {
	l      *announce.Listener
	cancel context.CancelFunc // ends a confirmation under way
	done   chan struct{}
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
		gw.log.Warn("not listening for gateway announcements", "err", errText(err))
		return nil
	}
	gw.log.Debug("listening for gateway announcements", "addr", l.LocalAddr())
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcer{l: l, cancel: cancel, done: make(chan struct{})}
	go gw.announceLoop(ctx, a)
	return a
}

func (a *announcer) stop() {
	a.cancel()
	a.l.Close()
	<-a.done
}

// announceLoop reads announcements until the listener is closed.
func (gw *gateway) announceLoop(ctx context.Context, a *announcer) {
	defer close(a.done)
	buf := make([]byte, announce.MaxSize)
	st := annState{ctx: ctx}
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
				gw.log.Warn("announcement listener failing; giving up", "err", errText(err))
				return
			}
			continue
		}
		errs = 0
		gw.onAnnouncement(&st, buf[:n])
	}
}

// annState remembers the last announcement acted on, to skip its copies,
// and the burst it belongs to, to confirm each burst once.
type annState struct {
	ctx    context.Context // ends with the listener; nil means Background
	last   time.Time       // when an announcement was last acted on
	lastEx netip.Addr      // the external address it carried
	epoch  epoch.Watch     // the epochs announcements carried

	seen       time.Time // when the last announcement came
	burstStart time.Time // when the current burst began
	confirmed  bool      // the current burst was confirmed (or is being)
}

// inBurst says whether an announcement at now belongs to the burst under
// way, and starts a new one when it does not.
func (st *annState) inBurst(now time.Time) bool {
	in := !st.seen.IsZero() && now.Sub(st.seen) < announceBurstGap && now.Sub(st.burstStart) < announceQuiet
	st.seen = now
	if !in {
		st.burstStart, st.confirmed = now, false
	}
	return in
}

// onAnnouncement acts on a datagram from the gateway's address. An
// announcement is a hint — any LAN host can send one — so a burst of them is
// confirmed once, by one unicast request to the gateway (see confirm), and
// the rest of the burst is ignored. News — a new external address, an epoch
// that started over since the last announcement, a reset by the protocol
// parser's epoch check, or the first announcement in announceQuiet — is
// confirmed; copies of an announcement already acted on are not. When the
// confirmation's own epoch check says the gateway lost its state, the
// mappings are restored (see noteReset); otherwise every mapping renews
// (PCP, NAT-PMP) or checks (UPnP) at once, and the replies' epoch checks
// tell the rest.
//
// The epoch check (epoch.NATPMP, RFC 6886 §3.6) allows some slack, so it
// needs as much history: it sees a restart only when the epoch the gateway
// would have reached without one is beyond that slack ahead of the new
// epoch. A gateway whose epoch was still within the slack when we last heard
// from it and that restarts at once looks unchanged. The immediate renewal
// covers that case: a PCP or NAT-PMP renewal is a MAP request, which
// re-creates the mapping on a gateway that lost it (reported as Renewed, not
// Restored).
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
		inBurst := st.inBurst(now)
		newAddr := ann.external.IsValid() && ann.external != st.lastEx
		if inBurst && st.confirmed && !newAddr && !ann.reset {
			// The burst was confirmed already. An announcement with
			// another address is news even within it: a router that
			// announces its old address and then, moments later, the
			// new one (miniupnpd after a WAN change) must be asked
			// again. A spoofer alternating addresses gets at most the
			// governor's rate of confirmations.
			return
		}
		restarted := ann.hasEpoch && st.epoch.Observe(epoch.NATPMP, ann.epoch, now)
		if !ann.reset && !newAddr && !restarted && !st.last.IsZero() && now.Sub(st.last) < announceQuiet {
			return // a copy of what we acted on
		}
		gw.log.Info("gateway announcement", "method", mp.method(), "reset", ann.reset, "external", ann.external,
			"epoch", ann.epoch, "epoch_restarted", restarted)
		st.last, st.confirmed = now, true
		if ann.external.IsValid() {
			st.lastEx = ann.external
		}
		gw.confirm(st.ctx, mp.method())
		return
	}
	gw.log.Debug("ignored a datagram on the announcement address", "len", len(b))
}

// confirm asks the gateway, after RFC 6887 §14.1's random delay (once per
// burst), whether what an announcement of method claimed holds: one
// unicast request through the governor, by the first enabled method that
// can confirm (NAT-PMP tells the external address too), else by method's
// own. It then acts on the answer.
func (gw *gateway) confirm(ctx context.Context, method Method) {
	if ctx == nil {
		ctx = context.Background()
	}
	by := gw.confirmer(method)
	if by == nil {
		return
	}
	if d := gw.c.jitter(by.(mapper).method()); d > 0 {
		t := gw.c.clock().NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	var got announcement
	err := gw.call(ctx, func(ctx context.Context) (err error) {
		got, err = by.confirm(ctx)
		return err
	})
	m := by.(mapper).method()
	if err != nil {
		gw.log.Info("gateway announcement not confirmed; ignored", "method", m, "err", errText(err))
		return
	}
	if got.reset {
		gw.noteReset(nil, m)
		return
	}
	gw.broadcast(nil, sigRenew, nil)
}

// confirmer picks the announcee that confirms an announcement of method:
// the first enabled one, else method's own.
func (gw *gateway) confirmer(method Method) announcee {
	for _, mp := range gw.mappers {
		if an, ok := mp.(announcee); ok {
			return an
		}
	}
	for _, mp := range gw.all {
		if an, ok := mp.(announcee); ok && mp.method() == method {
			return an
		}
	}
	return nil
}
