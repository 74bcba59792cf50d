package gatewaytest

import (
	"net"
	"net/netip"
	"time"
)

// maxDatagram is the read buffer: larger than any valid request (PCP allows
// 1100 bytes) so that an oversized one is seen as such rather than
// truncated into something valid.
const maxDatagram = 2048

// handler answers one datagram. It returns the reply (nil = none) and the
// method the request counted as, which selects the delay, silence and decoy
// knobs.
type handler func(pkt []byte, from netip.AddrPort) (reply []byte, method string)

// goServe starts the read loop of one UDP socket.
func (g *Gateway) goServe(c *net.UDPConn, h handler) {
	g.wg.Add(1)
	go g.serveUDP(c, h)
}

// serveUDP reads datagrams until the socket is closed by Close.
func (g *Gateway) serveUDP(c *net.UDPConn, h handler) {
	defer g.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if g.closed() {
				return
			}
			// Transient errors (e.g. ICMP feedback surfacing as ECONNREFUSED
			// on Linux after a reply to a closed port) must not stop the
			// server.
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		reply, method := h(buf[:n], from)
		if reply == nil {
			continue
		}
		g.send(c, reply, from, method)
	}
}

// send delivers a reply, applying the delay and decoy knobs of method.
func (g *Gateway) send(c *net.UDPConn, reply []byte, to netip.AddrPort, method string) {
	g.mu.Lock()
	delay := g.st.delay[method]
	decoy := g.st.decoy
	g.mu.Unlock()

	if delay <= 0 {
		g.deliver(c, reply, to, method, decoy)
		return
	}
	g.wg.Add(1)
	go g.sendLater(c, reply, to, method, decoy, delay)
}

// sendLater is the goroutine of a delayed reply; Close abandons it.
func (g *Gateway) sendLater(c *net.UDPConn, reply []byte, to netip.AddrPort, method, decoy string, delay time.Duration) {
	defer g.wg.Done()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		g.deliver(c, reply, to, method, decoy)
	case <-g.done:
	}
}

// deliver writes the decoy (if any applies) and then the real reply.
func (g *Gateway) deliver(c *net.UDPConn, reply []byte, to netip.AddrPort, method, decoy string) {
	switch decoy {
	case DecoyWrongNonce:
		if method == PCP {
			if bad := pcpWrongNonce(reply); bad != nil {
				_, _ = c.WriteToUDPAddrPort(bad, to)
			}
		}
	case DecoyWrongSource:
		if (method == PCP || method == NATPMP) && to.Addr().Is4() {
			if dc := g.decoyConn(); dc != nil {
				_, _ = dc.WriteToUDPAddrPort(decoyReply(reply), to)
			}
		}
	case DecoyTruncated:
		if method == PCP || method == NATPMP {
			_, _ = c.WriteToUDPAddrPort(reply[:len(reply)-1], to)
		}
	}
	_, _ = c.WriteToUDPAddrPort(reply, to)
}

// decoyReply returns a copy of a NAT-PMP or PCP reply that reports
// DecoyExternalAddr and DecoyPort instead of the real mapping, so a client
// that accepts it is caught by what it reports.
func decoyReply(reply []byte) []byte {
	b := append([]byte(nil), reply...)
	if len(b) == 0 {
		return b
	}
	if b[0] == 0 {
		return natpmpDecoy(b)
	}
	return pcpDecoy(b)
}

// handlePort5351 demultiplexes the shared NAT-PMP/PCP socket on the version
// byte, as miniupnpd does.
func (g *Gateway) handlePort5351(pkt []byte, from netip.AddrPort) ([]byte, string) {
	if len(pkt) == 0 {
		return nil, ""
	}
	from = netip.AddrPortFrom(g.behindNAT(from.Addr()), from.Port())
	if pkt[0] == 0 {
		return g.handleNATPMP(pkt, from), NATPMP
	}
	return g.handlePCP(pkt, from), PCP
}

// behindNAT is the address the gateway takes an IPv4 request from a to
// come from: Config.BehindNAT when set, else a.
func (g *Gateway) behindNAT(a netip.Addr) netip.Addr {
	if g.cfg.BehindNAT.Is4() && a.Unmap().Is4() {
		return g.cfg.BehindNAT
	}
	return a
}

// handlePCP6 serves the IPv6 socket: PCP only (NAT-PMP is IPv4-only).
func (g *Gateway) handlePCP6(pkt []byte, from netip.AddrPort) ([]byte, string) {
	if len(pkt) == 0 {
		return nil, ""
	}
	pkt, from = g.asIPv6Host(pkt, from)
	return g.handlePCP(pkt, from), PCP
}
