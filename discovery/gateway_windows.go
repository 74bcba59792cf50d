//go:build windows

package discovery

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// defaultGateways reads the IP forwarding table (GetIpForwardTable2, both
// families) and returns the default routes' next hops, ordered by route
// metric.
func defaultGateways() ([]Gateway, error) {
	var table *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(windows.AF_UNSPEC, &table); err != nil {
		return nil, err
	}
	defer windows.FreeMibTable(unsafe.Pointer(table))
	var routes []kernelRoute
	for _, row := range table.Rows() {
		if row.DestinationPrefix.PrefixLength != 0 {
			continue
		}
		if a := sockaddrInetAddr(&row.DestinationPrefix.Prefix); !a.IsValid() || !a.IsUnspecified() {
			continue
		}
		routes = append(routes, kernelRoute{
			Gw:      sockaddrInetAddr(&row.NextHop),
			IfIndex: int(row.InterfaceIndex),
			Metric:  row.Metric,
			Table:   tableMain,
		})
	}
	return chooseDefaults(routes, ifaceName)
}

// sockaddrInetAddr decodes a SOCKADDR_INET into an address (zero if the
// family is neither IPv4 nor IPv6).
func sockaddrInetAddr(sa *windows.RawSockaddrInet) netip.Addr {
	switch sa.Family {
	case windows.AF_INET:
		s4 := (*windows.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(s4.Addr)
	case windows.AF_INET6:
		s6 := (*windows.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrFrom16(s6.Addr)
	}
	return netip.Addr{}
}
