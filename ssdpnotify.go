package upnpmap

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
)

// SSDP NOTIFY: a UPnP router multicasts ssdp:alive when it starts and every
// few minutes, ssdp:byebye when it goes down gracefully, and each carries
// BOOTID.UPNP.ORG (one more after each restart) and CONFIGID.UPNP.ORG (a new
// value when its description changes). While a UPnP mapping lives, the
// gateway listens for its own NOTIFYs and acts on what they tell at once,
// instead of at the next poll:
//
//   - ssdp:byebye: check the mappings now (a UPnP entry that is gone is
//     re-created; PCP and NAT-PMP mappings renew, and their epoch check
//     tells a reboot);
//   - a new BOOTID: the router restarted; read the description again (the
//     control URL may have moved), check the mappings (gone: Lost, then
//     Restored) and subscribe to its events again;
//   - a new CONFIGID: read the description again and re-subscribe;
//   - a LOCATION other than the one in use: the same, and check the
//     mappings (the router may have restarted without a new BOOTID).
//
// Polling stays the fallback. Any host on the LAN can send a NOTIFY with
// the gateway's source address, so what one says is a hint: acting on it
// means asking the gateway itself (through the governor), once per burst.

// Bounds of the NOTIFY listener.
const (
	// ssdpNotifyMaxRate is how many datagrams from the gateway are parsed
	// per ssdpNotifyWindow; the rest of a flood is dropped unread. A
	// router's round of NOTIFYs is one per device and service (about 15
	// for miniupnpd), sent once or twice.
	ssdpNotifyMaxRate = 64
	ssdpNotifyWindow  = time.Second
	// ssdpNotifyMaxErrs is how many read errors in a row make the listener
	// give up (polling still keeps the mappings).
	ssdpNotifyMaxErrs = 10
)

// ssdpAction is what a NOTIFY calls for (bits).
type ssdpAction uint8

const (
	// ssdpCheck: check (UPnP) or renew (PCP, NAT-PMP) every mapping now.
	ssdpCheck ssdpAction = 1 << iota
	// ssdpReread: read the description again and re-subscribe to events.
	ssdpReread
	// ssdpRestart marks the check a restart (a new BOOTID or LOCATION)
	// calls for: one more within a burst whose byebye was checked already
	// (the router went down, then came back moments later, and the first
	// check may have found it down), but only one.
	ssdpRestart
)

// ssdpWatcher is a running NOTIFY listener and its goroutine.
type ssdpWatcher struct {
	conn   *net.UDPConn
	cancel context.CancelFunc // ends an action under way
	done   chan struct{}
	// Counters, for the log and the tests: datagrams read (from anyone)
	// and NOTIFYs acted on.
	read, acted atomic.Int64
}

// startSSDPWatcher opens the NOTIFY listener, or returns nil when there is
// none to open: a loopback gateway (unless a test set Client.ssdpNotifyAddr),
// or no interface faces the gateway (the group is never joined on any
// other). Called with gw.mu held.
func (gw *gateway) startSSDPWatcher() *ssdpWatcher {
	conn, err := gw.listenSSDPNotify()
	if err != nil {
		gw.log.Debug("not listening for SSDP NOTIFY; polling only", "err", errText(err))
		return nil
	}
	if conn == nil {
		return nil
	}
	gw.log.Debug("listening for SSDP NOTIFY", "addr", conn.LocalAddr())
	ctx, cancel := context.WithCancel(context.Background())
	w := &ssdpWatcher{conn: conn, cancel: cancel, done: make(chan struct{})}
	go gw.ssdpNotifyLoop(ctx, w)
	return w
}

// listenSSDPNotify opens the socket: the test's unicast address, or the
// SSDP group joined on the interface facing the gateway (nil, nil: none).
func (gw *gateway) listenSSDPNotify() (*net.UDPConn, error) {
	network := "udp4"
	if gw.addr.Is6() {
		network = "udp6"
	}
	if a := gw.c.ssdpNotifyAddr; a.IsValid() {
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(a))
	}
	if gw.addr.IsLoopback() {
		return nil, nil
	}
	ifi, ok := gw.c.interfaceFor(gw.addr)
	if !ok {
		return nil, errors.New("no interface faces the gateway")
	}
	group := discovery.SSDPGroupV4
	if gw.addr.Is6() {
		group = discovery.SSDPGroupV6
	}
	// Shared with every other SSDP listener of the host (SO_REUSEADDR).
	return net.ListenMulticastUDP(network, &ifi, net.UDPAddrFromAddrPort(group))
}

// stop closes the listener and waits for its goroutine (and an action under
// way, whose context it cancels).
func (w *ssdpWatcher) stop() {
	w.cancel()
	w.conn.Close()
	<-w.done
}

// ssdpNotifyLoop reads NOTIFYs until the listener is closed. Datagrams from
// any address but the gateway's, larger than discovery.MaxDatagramSize, or
// beyond ssdpNotifyMaxRate are dropped unparsed.
func (gw *gateway) ssdpNotifyLoop(ctx context.Context, w *ssdpWatcher) {
	defer close(w.done)
	buf := make([]byte, discovery.MaxDatagramSize+1)
	st := &ssdpState{}
	errs := 0
	for {
		n, from, err := w.conn.ReadFromUDPAddrPort(buf)
		w.read.Add(1)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			if errs++; errs > ssdpNotifyMaxErrs {
				gw.log.Warn("SSDP NOTIFY listener failing; giving up", "err", errText(err))
				return
			}
			continue
		}
		errs = 0
		if from.Addr().Unmap().WithZone("") != gw.addr.Unmap().WithZone("") || n > discovery.MaxDatagramSize {
			continue
		}
		now := gw.c.clock().Now()
		if !st.admit(now) {
			continue
		}
		msg, err := discovery.ParseNotify(buf[:n], from)
		if err != nil {
			gw.log.Debug("ignored an SSDP datagram from the gateway", "err", errText(err))
			continue
		}
		if gw.onSSDPNotify(ctx, st, msg, now) {
			w.acted.Add(1)
		}
	}
}

// ssdpState is what the listener knows of the router's NOTIFYs: the last
// BOOTID and CONFIGID, the burst under way, and the rate window.
type ssdpState struct {
	bootID, configID       uint32
	hasBootID, hasConfigID bool

	seen       time.Time  // when the last NOTIFY of the device came
	burstStart time.Time  // when the current burst began
	acted      ssdpAction // the actions taken in the current burst

	winStart time.Time // the rate window
	winCount int
	dropped  int // datagrams dropped by the rate limit (for the log)
}

// admit counts a datagram in the rate window and says whether to parse it.
func (st *ssdpState) admit(now time.Time) bool {
	if now.Sub(st.winStart) >= ssdpNotifyWindow || now.Before(st.winStart) {
		st.winStart, st.winCount = now, 0
	}
	st.winCount++
	if st.winCount > ssdpNotifyMaxRate {
		st.dropped++
		return false
	}
	return true
}

// inBurst says whether a NOTIFY at now belongs to the burst under way, as
// annState.inBurst does for announcements (announceBurstGap apart at most,
// cut every announceQuiet), and starts a new one when it does not.
func (st *ssdpState) inBurst(now time.Time) bool {
	in := !st.seen.IsZero() && now.Sub(st.seen) < announceBurstGap && now.Sub(st.burstStart) < announceQuiet
	st.seen = now
	if !in {
		st.burstStart, st.acted = now, 0
	}
	return in
}

// decide returns what n calls for, given the description URL in use (""
// when none is known), and records what it told. The first BOOTID and
// CONFIGID seen are the baseline. Within a burst each action is taken once:
// a router's round of NOTIFYs, its repeats and a flood cost one check.
func (st *ssdpState) decide(n *discovery.Notify, location string, now time.Time) (want ssdpAction, why string) {
	var reasons []string
	switch n.NTS {
	case discovery.NTSUpdate:
		// The device moves to a new BOOTID without a restart (UDA 1.1
		// §1.2.4): the next alive with it is no news.
		st.bootID, st.hasBootID = n.NextBootID, true
		return 0, ""
	case discovery.NTSByeBye:
		want |= ssdpCheck
		reasons = append(reasons, "byebye")
	case discovery.NTSAlive:
		if n.HasBootID {
			if st.hasBootID && n.BootID != st.bootID {
				want |= ssdpCheck | ssdpReread | ssdpRestart
				reasons = append(reasons, "new BOOTID (restart)")
			}
			st.bootID, st.hasBootID = n.BootID, true
		}
		if n.HasConfigID {
			if st.hasConfigID && n.ConfigID != st.configID {
				want |= ssdpReread
				reasons = append(reasons, "new CONFIGID")
			}
			st.configID, st.hasConfigID = n.ConfigID, true
		}
		if location != "" && n.Location != nil && n.Location.String() != location {
			// A router that moved its description may have restarted
			// without saying so: a UPnP 1.0 one has no BOOTID, and
			// miniupnpd's is its start time in seconds, the same after
			// a restart within one second (seen in the lab: byebye and
			// alive 60 ms apart, one BOOTID). So it counts as a restart.
			want |= ssdpReread | ssdpCheck | ssdpRestart
			reasons = append(reasons, "new LOCATION")
		}
	}
	if st.inBurst(now) {
		want &^= st.acted
		if want&ssdpRestart != 0 {
			want |= ssdpCheck
		}
	}
	st.acted |= want
	return want, strings.Join(reasons, ", ")
}

// onSSDPNotify acts on a NOTIFY from the gateway's address that belongs to
// the device we map on (by the UDNs of its description; nothing before the
// device is located), and says whether it acted.
func (gw *gateway) onSSDPNotify(ctx context.Context, st *ssdpState, n *discovery.Notify, now time.Time) bool {
	u, _ := gw.mapper(UPnP).(*upnpMapper)
	if u == nil || !u.ownsUSN(n.USN) {
		return false
	}
	want, why := st.decide(n, u.locationURL(), now)
	if want == 0 {
		return false
	}
	if st.dropped > 0 {
		gw.log.Debug("SSDP NOTIFY rate limit hit", "dropped", st.dropped)
		st.dropped = 0
	}
	gw.log.Info("gateway SSDP notification", "nts", n.NTS, "why", why, "boot_id", n.BootID, "config_id", n.ConfigID,
		"check", want&ssdpCheck != 0, "reread", want&ssdpReread != 0)
	if want&ssdpReread != 0 {
		if n.Location != nil {
			err := gw.call(ctx, func(ctx context.Context) error { return u.fetch(ctx, n.Location) })
			if err != nil {
				if ctx.Err() != nil {
					return true
				}
				// The mappings' own exchanges search again if the
				// control URL moved and this did not find it.
				gw.log.Info("re-reading the description after an SSDP NOTIFY failed", "err", errText(err))
			}
		}
		if sub := gw.subscription(); sub != nil {
			sub.resubscribe()
		}
	}
	if want&ssdpCheck != 0 {
		gw.broadcast(nil, sigRenew, nil)
	}
	return true
}

// ownsUSN says whether a NOTIFY's USN ("uuid:…" or "uuid:…::type") names a
// device of the located description: a router can host other root devices
// (a media server) whose NOTIFYs say nothing about the gateway's.
func (u *upnpMapper) ownsUSN(usn string) bool {
	udn, _, _ := strings.Cut(usn, "::")
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range u.udns {
		if strings.EqualFold(d, udn) {
			return true
		}
	}
	return false
}
