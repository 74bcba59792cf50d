package gatewaytest

import (
	"net/netip"
	"time"
)

// startAnnounce sends the announcements of a reboot or an address change to
// Config.AnnounceTo in the background. The caller holds g.mu and has checked
// that the gateway is not closed (so the WaitGroup may still grow).
func (g *Gateway) startAnnounce() {
	if len(g.cfg.AnnounceTo) == 0 {
		return
	}
	g.wg.Add(1)
	go g.announce()
}

// announce sends Config.AnnounceCount rounds, the first at once, then
// after AnnounceInterval, doubling (RFC 6886 §3.2.1, RFC 6887 §14.1). Each
// round carries the epoch and address of the moment it is sent. Close stops
// it.
func (g *Gateway) announce() {
	defer g.wg.Done()
	interval := g.cfg.AnnounceInterval
	for i := range g.cfg.AnnounceCount {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-t.C:
			case <-g.done:
				t.Stop()
				return
			}
			interval *= 2
		}
		g.announceOnce()
	}
}

// announceOnce sends one round: the NAT-PMP announcement and the PCP
// ANNOUNCE to each IPv4 destination from Addr():5351, and the PCP ANNOUNCE
// to each IPv6 destination from the [::1] socket.
func (g *Gateway) announceOnce() {
	g.mu.Lock()
	epoch := g.st.epoch(g.cfg.Now())
	ext := g.st.ext4()
	g.mu.Unlock()

	g.sendAnnouncement(natpmpAnnouncement(epoch, ext), pcpAnnounce(epoch))
}

// sendAnnouncement sends one NAT-PMP announcement and one PCP ANNOUNCE to
// each destination of Config.AnnounceTo (see announceOnce).
func (g *Gateway) sendAnnouncement(pmp, pcp []byte) {
	for _, to := range g.cfg.AnnounceTo {
		to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
		if to.Addr().Is4() {
			if g.pmp == nil {
				continue
			}
			if !g.cfg.DisableNATPMP {
				_, _ = g.pmp.WriteToUDPAddrPort(pmp, to)
			}
			if !g.cfg.NATPMPOnly {
				_, _ = g.pmp.WriteToUDPAddrPort(pcp, to)
			}
			continue
		}
		if g.pcp6 != nil && !g.cfg.NATPMPOnly {
			_, _ = g.pcp6.WriteToUDPAddrPort(pcp, to)
		}
	}
}

// AnnounceBurst sends n rounds of announcements to Config.AnnounceTo, one
// every interval, in the background: what a LAN host that spoofs the
// gateway's source address can send, or a buggy router that repeats itself.
// Each round is a NAT-PMP announcement (with the current external address)
// and a PCP ANNOUNCE, both from Addr():5351, carrying epoch (a spoofer
// claims a reboot with 0; pass Epoch() for the gateway's own). The gateway's
// state is not changed. The returned channel is closed when the last round
// is sent, or at Close.
func (g *Gateway) AnnounceBurst(n int, interval time.Duration, epoch uint32) <-chan struct{} {
	done := make(chan struct{})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed() || len(g.cfg.AnnounceTo) == 0 {
		close(done)
		return done
	}
	g.wg.Add(1)
	go g.announceBurst(n, interval, epoch, done)
	return done
}

// announceBurst is AnnounceBurst's goroutine.
func (g *Gateway) announceBurst(n int, interval time.Duration, epoch uint32, done chan<- struct{}) {
	defer g.wg.Done()
	defer close(done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range n {
		if i > 0 {
			select {
			case <-tick.C:
			case <-g.done:
				return
			}
		}
		g.mu.Lock()
		ext := g.st.ext4()
		g.mu.Unlock()
		g.sendAnnouncement(natpmpAnnouncement(epoch, ext), pcpAnnounce(epoch))
	}
}
