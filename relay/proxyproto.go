package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
)

// PROXY protocol headers (haproxy.org/download/2.9/doc/proxy-protocol.txt),
// written towards the target so that it learns who the client is. The relay
// only ever writes them: it never parses one from a client, so a client
// cannot claim another address.

// proxyV2Sig is the 12-byte signature that starts every version 2 header.
var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// proxyHeader returns the header of the given version (1 or 2) for a TCP
// connection from src that arrived at dst. Both are compared unmapped: when
// both are IPv4 the header says IPv4; when both are IP but of different
// families, both are written as IPv6 (IPv4-mapped). Without two IP addresses
// (a Unix-socket listener) it says UNKNOWN (v1) or LOCAL (v2), which tells the
// target to use the connection's own addresses.
func proxyHeader(version int, src, dst net.Addr) []byte {
	s, sok := tcpAddrPort(src)
	d, dok := tcpAddrPort(dst)
	return buildProxyHeader(version, s, d, sok && dok)
}

func tcpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := t.AddrPort()
	if !ap.Addr().IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
}

func buildProxyHeader(version int, src, dst netip.AddrPort, known bool) []byte {
	v4 := known && src.Addr().Is4() && dst.Addr().Is4()
	if version == 1 {
		if !known {
			return []byte("PROXY UNKNOWN\r\n")
		}
		b := make([]byte, 0, 108) // the longest v1 header, by the spec
		if v4 {
			b = append(b, "PROXY TCP4 "...)
		} else {
			b = append(b, "PROXY TCP6 "...)
			src, dst = as16(src), as16(dst)
		}
		b = src.Addr().AppendTo(b)
		b = append(b, ' ')
		b = dst.Addr().AppendTo(b)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(src.Port()), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(dst.Port()), 10)
		return append(b, "\r\n"...)
	}

	b := make([]byte, 16, 16+36)
	copy(b, proxyV2Sig[:])
	switch {
	case !known:
		b[12] = 0x20 // version 2, LOCAL
		b[13] = 0x00 // AF_UNSPEC, UNSPEC
		return b     // length 0
	case v4:
		b[12] = 0x21 // version 2, PROXY
		b[13] = 0x11 // AF_INET, STREAM
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	default:
		b[12] = 0x21
		b[13] = 0x21 // AF_INET6, STREAM
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-16))
	return b
}

// as16 writes an IPv4 address in its IPv4-mapped IPv6 form.
func as16(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
}
