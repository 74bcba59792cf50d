// Package announce receives the unsolicited messages a NAT-PMP or PCP
// gateway sends when it reboots or its external address changes (RFC 6886
// §3.2.1, RFC 6887 §14.1): on 224.0.0.1:5350 (or [ff02::1]:5350), or, in
// tests, on a unicast loopback address. It only moves bytes: parsing belongs
// to the natpmp and pcp packages, what to do to the front door.
package announce

import (
	"fmt"
	"net"
	"net/netip"
)

// Port is where gateways send announcements.
const Port = 5350

// Groups where announcements are multicast.
var (
	GroupV4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 1}), Port)
	GroupV6 = netip.AddrPortFrom(netip.MustParseAddr("ff02::1"), Port)
)

// MaxSize bounds a datagram: a PCP message is at most 1100 bytes; anything
// longer is cut there and left to the parser to reject.
const MaxSize = 1100

// Listener receives datagrams sent by one source.
type Listener struct {
	conn   *net.UDPConn
	source netip.AddrPort
}

// Listen opens a socket on addr that accepts only datagrams from source (the
// gateway's address and port 5351). A multicast addr is joined on the
// interface that holds local (the system's default interface when none does);
// the socket is shared with other listeners on the same port (SO_REUSEADDR),
// as every NAT-PMP client on the host needs the same announcements. A unicast
// addr is bound as it is.
func Listen(addr, source netip.AddrPort, local netip.Addr) (*Listener, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.IsValid() {
		return nil, fmt.Errorf("announce: invalid address %v", addr)
	}
	ua := net.UDPAddrFromAddrPort(addr)
	var (
		conn *net.UDPConn
		err  error
	)
	if addr.Addr().IsMulticast() {
		network := "udp4"
		if addr.Addr().Is6() {
			network = "udp6"
		}
		conn, err = net.ListenMulticastUDP(network, interfaceOf(local), ua)
	} else {
		// Name the family: a "udp" socket can end up dual-stack, and an
		// IPv6 socket misses IPv4 announcements (seen with miniupnpd).
		network := "udp4"
		if addr.Addr().Is6() {
			network = "udp6"
		}
		conn, err = net.ListenUDP(network, ua)
	}
	if err != nil {
		return nil, fmt.Errorf("announce: listen on %v: %w", addr, err)
	}
	return &Listener{
		conn:   conn,
		source: netip.AddrPortFrom(source.Addr().Unmap(), source.Port()),
	}, nil
}

// Receive waits for the next datagram from the source and copies it into b
// (at most MaxSize bytes). Datagrams from anyone else are dropped: a host on
// the LAN must not be able to make us renew or re-create mappings. After
// Close it returns an error wrapping net.ErrClosed; other errors may be
// transient (the caller decides whether to go on).
func (l *Listener) Receive(b []byte) (int, error) {
	if len(b) > MaxSize {
		b = b[:MaxSize]
	}
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			return 0, err
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != l.source {
			continue
		}
		return n, nil
	}
}

// LocalAddr is the bound address (useful with port 0 in tests).
func (l *Listener) LocalAddr() netip.AddrPort {
	return l.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close closes the socket; a blocked Receive returns.
func (l *Listener) Close() error { return l.conn.Close() }

// interfaceOf returns the interface that has address a, or nil.
func interfaceOf(a netip.Addr) *net.Interface {
	if !a.IsValid() {
		return nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if pn, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap() == a.Unmap() {
					return &ifs[i]
				}
			}
		}
	}
	return nil
}
