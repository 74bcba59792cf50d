package discovery

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// The rtnetlink ABI (linux/netlink.h, linux/rtnetlink.h). The values are
// fixed by the kernel's ABI; they are spelled out here rather than taken from
// x/sys/unix so that the parser builds, and is tested, on every platform.
const (
	nlmsgHdrLen  = 16 // struct nlmsghdr
	rtMsgLen     = 12 // struct rtmsg
	rtAttrHdrLen = 4  // struct rtattr
	rtNexthopLen = 8  // struct rtnexthop

	nlmsgError   = 2
	nlmsgDone    = 3
	rtmNewRoute  = 24
	nlmFMulti    = 0x2
	afInet       = 2
	afInet6Linux = 10

	rtnUnicast    = 1
	rtmFCloned    = 0x200
	rtnhFDead     = 0x1
	rtnhFLinkdown = 0x10

	rtaOif       = 4
	rtaGateway   = 5
	rtaPriority  = 6
	rtaMultipath = 9
	rtaTable     = 15
	rtaVia       = 18
)

var errNetlinkTruncated = malformed("truncated netlink message")

// parseNetlinkRoutes parses one buffer of an RTM_GETROUTE dump (a sequence
// of netlink messages) and appends the default routes it lists to routes.
// done reports whether the dump's NLMSG_DONE was seen. order is the host's
// byte order (netlink uses it); tests pass a fixed one.
func parseNetlinkRoutes(b []byte, order binary.ByteOrder, routes []kernelRoute) (_ []kernelRoute, done bool, err error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return routes, false, errNetlinkTruncated
		}
		l := int(order.Uint32(b[0:4]))
		typ := order.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return routes, false, errNetlinkTruncated
		}
		body := b[nlmsgHdrLen:l]
		switch typ {
		case nlmsgDone:
			return routes, true, nil
		case nlmsgError:
			if len(body) >= 4 {
				if e := int32(order.Uint32(body[0:4])); e != 0 {
					return routes, false, netlinkErrno(-e)
				}
			}
			return routes, false, errors.New("discovery: netlink error")
		case rtmNewRoute:
			routes = appendNetlinkRoute(body, order, routes)
		}
		// Messages are aligned to 4 bytes.
		adv := align4(l)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return routes, false, nil
}

// appendNetlinkRoute decodes one RTM_NEWROUTE body and appends it if it is a
// usable default route (unicast, destination length 0). Malformed messages
// are skipped: one odd entry must not hide the others.
func appendNetlinkRoute(body []byte, order binary.ByteOrder, routes []kernelRoute) []kernelRoute {
	if len(body) < rtMsgLen {
		return routes
	}
	family, dstLen := body[0], body[1]
	table, typ := uint32(body[4]), body[7]
	flags := order.Uint32(body[8:12])
	if (family != afInet && family != afInet6Linux) || dstLen != 0 || typ != rtnUnicast || flags&rtmFCloned != 0 {
		return routes
	}
	r := kernelRoute{Table: table}
	var multipath []byte
	ok := walkAttrs(body[rtMsgLen:], order, func(t uint16, v []byte) {
		switch t {
		case rtaTable:
			if len(v) >= 4 {
				r.Table = order.Uint32(v)
			}
		case rtaOif:
			if len(v) >= 4 {
				r.IfIndex = int(int32(order.Uint32(v)))
			}
		case rtaPriority:
			if len(v) >= 4 {
				r.Metric = order.Uint32(v)
			}
		case rtaGateway:
			r.Gw = ipFromBytes(v)
		case rtaVia:
			r.Gw = viaAddr(v, order)
		case rtaMultipath:
			multipath = v
		}
	})
	if !ok {
		return routes
	}
	if multipath == nil {
		return append(routes, r)
	}
	// ECMP: one route per live next hop, sharing the route's metric.
	for len(multipath) >= rtNexthopLen {
		l := int(order.Uint16(multipath[0:2]))
		if l < rtNexthopLen || l > len(multipath) {
			break
		}
		nhFlags := multipath[2]
		nh := kernelRoute{Table: r.Table, Metric: r.Metric, IfIndex: int(int32(order.Uint32(multipath[4:8])))}
		walkAttrs(multipath[rtNexthopLen:l], order, func(t uint16, v []byte) {
			switch t {
			case rtaGateway:
				nh.Gw = ipFromBytes(v)
			case rtaVia:
				nh.Gw = viaAddr(v, order)
			}
		})
		if nhFlags&(rtnhFDead|rtnhFLinkdown) == 0 {
			routes = append(routes, nh)
		}
		adv := align4(l)
		if adv > len(multipath) {
			break
		}
		multipath = multipath[adv:]
	}
	return routes
}

// walkAttrs calls fn for each rtattr in b; it reports false if b is not a
// well-formed attribute list.
func walkAttrs(b []byte, order binary.ByteOrder, fn func(typ uint16, val []byte)) bool {
	for len(b) >= rtAttrHdrLen {
		l := int(order.Uint16(b[0:2]))
		if l < rtAttrHdrLen || l > len(b) {
			return false
		}
		// The top bits are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
		fn(order.Uint16(b[2:4])&0x3fff, b[rtAttrHdrLen:l])
		adv := align4(l)
		if adv >= len(b) {
			return true
		}
		b = b[adv:]
	}
	return len(b) == 0
}

// viaAddr decodes struct rtvia (family, then the address): an IPv4 route may
// have an IPv6 next hop (RFC 5549).
func viaAddr(v []byte, order binary.ByteOrder) netip.Addr {
	if len(v) < 2 {
		return netip.Addr{}
	}
	switch order.Uint16(v[0:2]) {
	case afInet:
		if len(v) >= 6 {
			return ipFromBytes(v[2:6])
		}
	case afInet6Linux:
		if len(v) >= 18 {
			return ipFromBytes(v[2:18])
		}
	}
	return netip.Addr{}
}

// ipFromBytes returns the address in a 4- or 16-byte slice, or the zero Addr.
func ipFromBytes(v []byte) netip.Addr {
	switch len(v) {
	case 4:
		return netip.AddrFrom4([4]byte(v))
	case 16:
		return netip.AddrFrom16([16]byte(v))
	}
	return netip.Addr{}
}

func align4(n int) int { return (n + 3) &^ 3 }

// netlinkErrno is an errno reported by the kernel in an NLMSG_ERROR.
type netlinkErrno int32

func (e netlinkErrno) Error() string {
	return "discovery: netlink error " + strconv.Itoa(int(e))
}
