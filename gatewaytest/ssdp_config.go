package gatewaytest

import (
	"net"
	"net/netip"
)

// Knobs for what an SSDP NOTIFY tells beyond a reboot: a router whose HTTP
// port survives its restart (only BOOTID.UPNP.ORG says it restarted), and
// one whose configuration changes while it runs (CONFIGID.UPNP.ORG).

// config is CONFIGID.UPNP.ORG: 1, plus one per ChangeConfig.
func (s *genaState) config() int { return 1 + s.configBumps }

// SetRebootKeepsPort makes Reboot keep the HTTP servers on their ports, as
// a router with a fixed UPnP port does (most do): the control URL stays
// valid, the table is still lost, and only the ssdp:alive with the next
// BOOTID.UPNP.ORG says the router restarted. Off by default.
func (g *Gateway) SetRebootKeepsPort(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gena.rebootKeepsPort = on
}

// ChangeConfig simulates a router whose UPnP configuration changed while it
// ran: the IPv4 HTTP server (description and control URL) moves to a new
// port (the old one refuses connections), CONFIGID.UPNP.ORG goes up by one,
// and one round of ssdp:alive with it goes to SetSSDPNotifyTo. The table,
// the epoch and BOOTID.UPNP.ORG are kept.
func (g *Gateway) ChangeConfig() {
	g.bootMu.Lock()
	defer g.bootMu.Unlock()
	g.mu.Lock()
	if g.closed() {
		g.mu.Unlock()
		return
	}
	g.gena.configBumps++
	old := g.moveHTTPLocked()
	g.mu.Unlock()
	if old != nil {
		old.srv.Close()
	}
	g.SendAlive()
}

// ConfigID is the current CONFIGID.UPNP.ORG.
func (g *Gateway) ConfigID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gena.config()
}

// moveHTTPLocked starts the IPv4 HTTP server on a new port and returns the
// old one for the caller to close once g.mu is released (nil if there is
// none or the new listen failed). Called with g.mu held.
func (g *Gateway) moveHTTPLocked() *httpSrv {
	if g.http == nil {
		return nil
	}
	// Listen before closing the old port so the new one differs.
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(g.addr, 0).String())
	if err != nil {
		g.log.Error("HTTP listen on a new port", "err", err)
		return nil
	}
	old := g.http
	old.retired.Store(true)
	g.http = g.newHTTP(ln)
	g.goHTTP(g.http)
	return old
}
