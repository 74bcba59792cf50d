package discovery

import (
	"fmt"
	"net/netip"
)

// kernelRoute is one default route as a platform's table lists it, before
// the choice among them. Gw is invalid when the route has no gateway address
// (a point-to-point link, or a gateway the OS hides).
type kernelRoute struct {
	Gw      netip.Addr
	IfIndex int
	IfName  string // set when the table names the interface (/proc)
	Metric  uint32
	Table   uint32
}

const (
	tableMain  = 254 // RT_TABLE_MAIN
	tableLocal = 255 // RT_TABLE_LOCAL
)

// chooseDefaults turns a platform's default routes into Gateways. Routes of
// the main table win when any of them has a gateway; otherwise routes of the
// other tables are used (Android keeps its default routes in per-network
// tables reached by policy rules). name maps an interface index to its name.
func chooseDefaults(routes []kernelRoute, name func(int) string) ([]Gateway, error) {
	var main, other []Gateway
	var gatewayless string
	for _, r := range routes {
		if r.Table == tableLocal {
			continue
		}
		n := r.IfName
		if n == "" {
			n = name(r.IfIndex)
		}
		if !usableGateway(r.Gw.Unmap()) {
			if gatewayless == "" {
				gatewayless = n
				if gatewayless == "" {
					gatewayless = fmt.Sprintf("interface %d", r.IfIndex)
				}
			}
			continue
		}
		g := Gateway{Addr: zoned(r.Gw.Unmap(), n, r.IfIndex), Interface: n, Metric: r.Metric}
		if r.Table == tableMain {
			main = append(main, g)
		} else {
			other = append(other, g)
		}
	}
	switch {
	case len(main) > 0:
		return main, nil
	case len(other) > 0:
		return other, nil
	case gatewayless != "":
		return nil, fmt.Errorf("%w (the default route via %s has no gateway address: a point-to-point link, or hidden by the OS)", ErrNoDefaultRoute, gatewayless)
	}
	return nil, ErrNoDefaultRoute
}
