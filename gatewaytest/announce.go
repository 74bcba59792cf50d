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

	pmp := natpmpAnnouncement(epoch, ext)
	pcp := pcpAnnounce(epoch)
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
