package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ssdpSocket is one UDP socket of a search and what it sends.
type ssdpSocket struct {
	name  string // for logs: "unicast4", "eth0/ipv4" …
	conn  *net.UDPConn
	sends []destination
}

// destination is one address and the requests (one per target) for it.
type destination struct {
	dst  netip.AddrPort
	msgs [][]byte
}

// openSockets opens the unicast and multicast sockets of a search. A socket
// that cannot be opened is logged and skipped; the error is returned only
// when none could be.
func (s *Searcher) openSockets(targets []string, log *slog.Logger) ([]*ssdpSocket, error) {
	var socks []*ssdpSocket
	var errs []error
	fail := func(what string, err error) {
		log.Debug("ssdp: socket skipped", "socket", what, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}

	var uni4, uni6 []destination
	for _, ap := range s.Unicast {
		a := ap.Addr().Unmap()
		if !responderOK(a) {
			fail("unicast "+ap.String(), fmt.Errorf("%w: not a unicast address", ErrInvalidArgs))
			continue
		}
		port := ap.Port()
		if port == 0 {
			port = defaultSSDPPort
		}
		dst := netip.AddrPortFrom(a, port)
		d := destination{dst: dst, msgs: requests(hostHeader(dst), targets, 1)}
		if a.Is4() {
			uni4 = append(uni4, d)
		} else {
			uni6 = append(uni6, d)
		}
	}
	if len(uni4) > 0 {
		if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero}); err != nil {
			fail("unicast4", err)
		} else {
			socks = append(socks, &ssdpSocket{name: "unicast4", conn: c, sends: uni4})
		}
	}
	if len(uni6) > 0 {
		if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified}); err != nil {
			fail("unicast6", err)
		} else {
			socks = append(socks, &ssdpSocket{name: "unicast6", conn: c, sends: uni6})
		}
	}

	if s.Multicast {
		ifaces := s.Interfaces
		if ifaces == nil {
			all, err := net.Interfaces()
			if err != nil {
				fail("interfaces", err)
			}
			for _, ifi := range all {
				if autoInterface(ifi) {
					ifaces = append(ifaces, ifi)
				}
			}
			if len(ifaces) == 0 {
				fail("multicast", errors.New("no up, multicast-capable, non-loopback interface"))
			}
		}
		for i := range ifaces {
			ifi := &ifaces[i]
			if sk, err := s.openMulticast4(ifi, targets, uni4); err != nil {
				fail(ifi.Name+"/ipv4", err)
			} else {
				socks = append(socks, sk)
			}
			if s.IPv6 {
				if sk, err := s.openMulticast6(ifi, targets); err != nil {
					fail(ifi.Name+"/ipv6", err)
				} else {
					socks = append(socks, sk)
				}
			}
		}
	}
	if len(socks) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoSocket, errors.Join(errs...))
	}
	for _, sk := range socks {
		log.Debug("ssdp: socket open", "socket", sk.name, "local", sk.conn.LocalAddr())
	}
	return socks, nil
}

// autoInterface is the default choice of multicast interfaces.
func autoInterface(ifi net.Interface) bool {
	const need = net.FlagUp | net.FlagRunning | net.FlagMulticast
	return ifi.Flags&need == need && ifi.Flags&(net.FlagLoopback|net.FlagPointToPoint) == 0
}

// openMulticast4 opens the IPv4 socket of one interface, bound to the
// interface's address (so answers come back to it) with the interface as the
// multicast output. Besides the group, it sends the unicast requests to the
// gateways that are on this interface's subnets: a device that answers only
// multicast searches then replies to an address and port we already sent to
// from this socket, which stateful host firewalls let through.
func (s *Searcher) openMulticast4(ifi *net.Interface, targets []string, uni4 []destination) (*ssdpSocket, error) {
	local, prefixes, err := ifaceAddrs(ifi, true)
	if err != nil {
		return nil, err
	}
	if !local.IsValid() {
		return nil, errors.New("no IPv4 address")
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, err
	}
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastInterface(ifi); err != nil {
		c.Close()
		return nil, err
	}
	if err := p.SetMulticastTTL(s.ttl()); err != nil {
		c.Close()
		return nil, err
	}
	sk := &ssdpSocket{name: ifi.Name + "/ipv4", conn: c}
	for _, d := range uni4 {
		for _, pfx := range prefixes {
			if pfx.Contains(d.dst.Addr()) {
				sk.sends = append(sk.sends, d)
				break
			}
		}
	}
	group := s.Group
	if !group.IsValid() {
		group = defaultGroup
	}
	sk.sends = append(sk.sends, destination{dst: group, msgs: requests(hostHeader(group), targets, s.mx())})
	return sk, nil
}

// openMulticast6 opens the IPv6 socket of one interface, unbound (answers
// come back to whichever address the kernel sent from) with the interface as
// the multicast output.
func (s *Searcher) openMulticast6(ifi *net.Interface, targets []string) (*ssdpSocket, error) {
	local, _, err := ifaceAddrs(ifi, false)
	if err != nil {
		return nil, err
	}
	if !local.IsValid() {
		return nil, errors.New("no IPv6 address")
	}
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return nil, err
	}
	p := ipv6.NewPacketConn(c)
	if err := p.SetMulticastInterface(ifi); err != nil {
		c.Close()
		return nil, err
	}
	if err := p.SetMulticastHopLimit(s.ttl()); err != nil {
		c.Close()
		return nil, err
	}
	sk := &ssdpSocket{name: ifi.Name + "/ipv6", conn: c}
	groups := s.Groups6
	if groups == nil {
		groups = defaultGroups6
	}
	for _, g := range groups {
		dst := g
		if g.Addr().IsLinkLocalMulticast() || g.Addr().IsLinkLocalUnicast() {
			dst = netip.AddrPortFrom(g.Addr().WithZone(ifi.Name), g.Port())
		}
		sk.sends = append(sk.sends, destination{dst: dst, msgs: requests(hostHeader(g), targets, s.mx())})
	}
	return sk, nil
}

// ifaceAddrs returns the interface's preferred address of one family (a
// non-link-local one if it has any) and all its prefixes of that family.
func ifaceAddrs(ifi *net.Interface, want4 bool) (netip.Addr, []netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, nil, err
	}
	var best netip.Addr
	var prefixes []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() != want4 {
			continue
		}
		ones, _ := ipn.Mask.Size()
		prefixes = append(prefixes, netip.PrefixFrom(ip, ones).Masked())
		if !best.IsValid() || (best.IsLinkLocalUnicast() && !ip.IsLinkLocalUnicast()) {
			best = ip
		}
	}
	return best, prefixes, nil
}

// requests renders one M-SEARCH per target for a destination.
func requests(host string, targets []string, mx int) [][]byte {
	msgs := make([][]byte, len(targets))
	for i, t := range targets {
		msgs[i] = buildSearch(host, t, mx)
	}
	return msgs
}

func (s *Searcher) mx() int {
	switch {
	case s.MX <= 0:
		return defaultMX
	case s.MX > 5:
		return 5
	}
	return s.MX
}

func (s *Searcher) ttl() int {
	if s.MulticastTTL <= 0 || s.MulticastTTL > 255 {
		return defaultTTL
	}
	return s.MulticastTTL
}
