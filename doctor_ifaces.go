package upnpmap

import (
	"net"
	"strings"
)

// Interface name prefixes of VPNs and tunnels, and of container and VM
// bridges: the gateway of the LAN is never behind them, so a default route
// through one is worth a warning, and they are passed over otherwise.
var (
	tunnelPrefixes = []string{"tun", "tap", "wg", "utun", "ppp", "ipsec", "tailscale", "zt", "nordlynx", "gpd", "vpn"}
	bridgePrefixes = []string{"docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "cni", "flannel", "cali", "lxc", "lxd", "podman", "vEthernet"}
)

// interfaces notes every interface with the reason it was chosen or passed
// over. The chosen one holds Local, the address facing the gateway.
func (d *diagnosis) interfaces() {
	list := d.c.ifaces
	if list == nil {
		list = systemInterfaces
	}
	ifs, err := list()
	if err != nil {
		d.add(Finding{Code: "INTERFACES", Severity: SeverityWarning, What: "cannot list the interfaces: " + errText(err)})
		return
	}
	local := d.r.Local.Unmap()
	for _, ip := range ifs {
		n := InterfaceNote{Name: ip.ifi.Name, Prefixes: ip.prefixes}
		kind := interfaceKind(ip.ifi)
		holds := false
		for _, p := range ip.prefixes {
			holds = holds || (local.IsValid() && p.Addr() == local)
		}
		switch {
		case holds:
			n.Chosen = true
			n.Reason = "holds " + local.String() + ", this machine's address towards the gateway"
			if d.gw != nil && d.gw.fromTable {
				n.Reason += " (the default route)"
			} else {
				n.Reason += " (the gateway named)"
			}
			if kind != "" {
				d.add(Finding{Code: "ROUTE_VIA_" + strings.ToUpper(kind), Severity: SeverityWarning,
					What: "the way to the gateway goes through " + ip.ifi.Name + ", a " + kind + " interface: its far end is not your router",
					Fix:  "disconnect the VPN (or exclude the LAN from it), or name the router with --gateway IP"})
			}
		case ip.ifi.Flags&net.FlagUp == 0:
			n.Reason = "down"
		case ip.ifi.Flags&net.FlagLoopback != 0:
			n.Reason = "loopback"
		case kind != "":
			n.Reason = "passed over: a " + kind + " interface"
		case len(ip.prefixes) == 0:
			n.Reason = "no address"
		default:
			n.Reason = "not on the way to the gateway"
		}
		d.r.Interfaces = append(d.r.Interfaces, n)
	}
}

// interfaceKind says whether an interface is a VPN or tunnel ("tunnel"), a
// container or VM bridge ("bridge"), or neither ("").
func interfaceKind(ifi net.Interface) string {
	name := strings.ToLower(ifi.Name)
	for _, p := range tunnelPrefixes {
		if strings.HasPrefix(name, strings.ToLower(p)) {
			return "tunnel"
		}
	}
	if ifi.Flags&net.FlagPointToPoint != 0 {
		return "tunnel"
	}
	for _, p := range bridgePrefixes {
		if strings.HasPrefix(name, strings.ToLower(p)) {
			return "bridge"
		}
	}
	return ""
}
