package reach

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// bindAttempts bounds the retries when a chosen free TCP port is taken for
// UDP (or the alternate pairs) by someone else.
const bindAttempts = 8

// bind opens the TCP listener and the UDP socket(s) on Addr (and AltAddr):
// one port for both protocols, chosen free when Addr's port is 0.
func (s *Server) bind() error {
	addr := s.Addr
	if addr == "" {
		addr = ":" + strconv.Itoa(DefaultPort)
	}
	host, port, err := splitHostPortDefault(addr)
	if err != nil {
		return fmt.Errorf("reach: server address %q: %w", s.Addr, err)
	}
	var alt netip.AddrPort
	if s.AltAddr != "" {
		alt, err = netip.ParseAddrPort(s.AltAddr)
		if err != nil {
			return fmt.Errorf("reach: alternate address %q: %w", s.AltAddr, err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.IsUnspecified() || ip.Is4() != alt.Addr().Unmap().Is4() || ip == alt.Addr() {
			return fmt.Errorf("reach: with an alternate address, Addr must name another IP of the same family (got %q, %q)", addr, s.AltAddr)
		}
	}
	var last error
	for range bindAttempts {
		s.closeSockets()
		last = s.bindOnce(host, port, alt)
		if last == nil || port != 0 {
			return last
		}
	}
	return last
}

// bindOnce makes one attempt at bind's sockets; on failure the caller
// closes what it opened.
func (s *Server) bindOnce(host string, port uint16, alt netip.AddrPort) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("reach: %w", err)
	}
	s.ln = ln.(*net.TCPListener)
	p := netip.MustParseAddrPort(ln.Addr().String()).Port()
	u, err := listenUDP(net.JoinHostPort(host, strconv.Itoa(int(p))))
	if err != nil {
		return err
	}
	s.udp[0] = u
	s.primary = netip.AddrPortFrom(u.local.Addr(), p)
	if !alt.IsValid() {
		return nil
	}
	if s.udp[3], err = listenUDP(alt.String()); err != nil {
		return err
	}
	a1, a2 := s.primary.Addr(), s.udp[3].local.Addr()
	p2 := s.udp[3].local.Port()
	if s.udp[2], err = listenUDP(netip.AddrPortFrom(a1, p2).String()); err != nil {
		return err
	}
	if s.udp[1], err = listenUDP(netip.AddrPortFrom(a2, p).String()); err != nil {
		return err
	}
	s.hasAlt = true
	return nil
}

func listenUDP(addr string) (*udpSocket, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("reach: %w", err)
	}
	c := pc.(*net.UDPConn)
	return &udpSocket{conn: c, local: c.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

// splitHostPortDefault splits "host:port", "host" or ":port"; a missing port
// is DefaultPort.
func splitHostPortDefault(addr string) (string, uint16, error) {
	if ip, err := netip.ParseAddr(addr); err == nil {
		return ip.String(), DefaultPort, nil // a bare address, IPv6 too
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return addr, DefaultPort, nil
		}
		return "", 0, err
	}
	if ps == "" {
		return host, DefaultPort, nil
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, uint16(p), nil
}

func (s *Server) closeSockets() {
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for i, u := range s.udp {
		if u != nil {
			u.conn.Close()
			s.udp[i] = nil
		}
	}
}
