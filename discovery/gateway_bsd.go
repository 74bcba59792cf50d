//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package discovery

import (
	"net/netip"
	"syscall"

	"golang.org/x/net/route"
)

// defaultGateways reads the routing table through the routing sysctl
// (NET_RT_DUMP) and returns the default routes' gateways. These systems have
// no route metrics; macOS lists an unscoped primary default route and one
// interface-scoped (RTF_IFSCOPE) default per other interface, so the primary
// gets metric 0 and the scoped ones 1.
func defaultGateways() ([]Gateway, error) {
	rib, err := route.FetchRIB(syscall.AF_UNSPEC, route.RIBTypeRoute, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := route.ParseRIB(route.RIBTypeRoute, rib)
	if err != nil {
		return nil, err
	}
	var routes []kernelRoute
	for _, m := range msgs {
		rm, ok := m.(*route.RouteMessage)
		if !ok || rm.Flags&syscall.RTF_UP == 0 {
			continue
		}
		if len(rm.Addrs) <= syscall.RTAX_GATEWAY || !isDefaultDst(rm.Addrs) {
			continue
		}
		kr := kernelRoute{IfIndex: rm.Index, Table: tableMain}
		if rm.Flags&rtfIfScope != 0 {
			kr.Metric = 1
		}
		if rm.Flags&syscall.RTF_GATEWAY != 0 {
			switch a := rm.Addrs[syscall.RTAX_GATEWAY].(type) {
			case *route.Inet4Addr:
				kr.Gw = netip.AddrFrom4(a.IP)
			case *route.Inet6Addr:
				kr.Gw = netip.AddrFrom16(a.IP)
				if a.ZoneID > 0 && kr.IfIndex == 0 {
					kr.IfIndex = a.ZoneID
				}
			}
		}
		routes = append(routes, kr)
	}
	return chooseDefaults(routes, ifaceName)
}

// isDefaultDst reports whether a route's destination is 0.0.0.0/0 or ::/0.
func isDefaultDst(addrs []route.Addr) bool {
	var dstZero bool
	switch a := addrs[syscall.RTAX_DST].(type) {
	case *route.Inet4Addr:
		dstZero = a.IP == [4]byte{}
	case *route.Inet6Addr:
		dstZero = a.IP == [16]byte{}
	}
	if !dstZero {
		return false
	}
	if len(addrs) <= syscall.RTAX_NETMASK || addrs[syscall.RTAX_NETMASK] == nil {
		return true // host routes carry no mask; a zero destination without one is the default
	}
	switch m := addrs[syscall.RTAX_NETMASK].(type) {
	case *route.Inet4Addr:
		return m.IP == [4]byte{}
	case *route.Inet6Addr:
		return m.IP == [16]byte{}
	}
	return false
}
