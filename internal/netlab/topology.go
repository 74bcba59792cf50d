//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net/netip"
)

// buildTopology creates the namespaces, links, addresses and routes. Every
// veth is created with both ends already inside lab namespaces
// (`ip -n A link add X type veth peer name Y netns B`), so no lab interface
// ever exists in the caller's namespace, not even briefly.
func (l *Lab) buildTopology(ctx context.Context) error {
	var add []string
	for _, n := range l.nodeList() {
		add = append(add, "netns add "+l.ns[n])
	}
	l.created = true // from here on Close deletes them, even if only some exist
	if err := ipBatch(ctx, "", add...); err != nil {
		return err
	}
	for _, n := range l.nodeList() {
		ino, err := nsInode(l.ns[n])
		if err != nil {
			return err
		}
		registerNetns(l.ns[n], ino)
	}

	if l.opts.IPv6 {
		if err := l.ipv6Sysctls(ctx); err != nil {
			return err
		}
	}

	wanBits := wanNet.Bits()
	pfx := func(a netip.Addr, bits int) string { return netip.PrefixFrom(a, bits).String() }
	rtr := []string{"link set lo up"}
	rtrWANBits, rtrGateway := wanBits, wanHost
	if l.isp != nil {
		// The ISP router creates the home router's WAN link.
		if err := l.buildISP(ctx); err != nil {
			return err
		}
		rtrWANBits, rtrGateway = l.isp.mid.prefix.Bits(), l.isp.mid.isp
	} else {
		rtr = append(rtr, fmt.Sprintf("link add %s type veth peer name %s netns %s", routerWANIf, hostIf, l.ns[WAN]))
	}
	rtr = append(rtr,
		fmt.Sprintf("link add %s type bridge stp_state 0 forward_delay 0 mcast_snooping 0", routerLANIf))
	for _, n := range []Node{LAN1, LAN2} {
		rtr = append(rtr,
			fmt.Sprintf("link add %s type veth peer name %s netns %s", routerPort(n), hostIf, l.ns[n]),
			fmt.Sprintf("link set %s master %s", routerPort(n), routerLANIf),
			fmt.Sprintf("link set %s up", routerPort(n)))
	}
	rtr = append(rtr,
		fmt.Sprintf("address add %s dev %s", pfx(l.wanAddr, rtrWANBits), routerWANIf),
		fmt.Sprintf("address add %s dev %s", pfx(routerLAN, lanNet.Bits()), routerLANIf),
		fmt.Sprintf("link set %s up", routerWANIf),
		fmt.Sprintf("link set %s up", routerLANIf),
		fmt.Sprintf("route add default via %s", rtrGateway))
	if l.opts.IPv6 {
		rtr = append(rtr,
			fmt.Sprintf("address add %s dev %s nodad", pfx(routerWAN6, wanNet6.Bits()), routerWANIf),
			fmt.Sprintf("address add %s dev %s nodad", pfx(routerLAN6, lanNet6.Bits()), routerLANIf),
			fmt.Sprintf("route add default via %s", wanHost6))
	}
	if err := ipBatch(ctx, l.ns[Router], rtr...); err != nil {
		return err
	}
	wan := []string{
		"link set lo up",
		fmt.Sprintf("address add %s dev %s", pfx(wanHost, wanBits), hostIf),
		fmt.Sprintf("address add %s dev %s", pfx(stunAlt, wanBits), hostIf),
		fmt.Sprintf("link set %s up", hostIf),
	}
	if l.opts.IPv6 {
		// The ISP routes the LAN prefix to the router; the WAN host has no
		// other route, as for IPv4.
		wan = append(wan,
			fmt.Sprintf("address add %s dev %s nodad", pfx(wanHost6, wanNet6.Bits()), hostIf),
			fmt.Sprintf("route add %s via %s", lanNet6, routerWAN6))
	}
	if err := ipBatch(ctx, l.ns[WAN], wan...); err != nil {
		return err
	}
	for _, n := range []Node{LAN1, LAN2} {
		lan := []string{
			"link set lo up",
			fmt.Sprintf("address add %s dev %s", pfx(l.Addr(n), lanNet.Bits()), hostIf),
			fmt.Sprintf("link set %s up", hostIf),
			fmt.Sprintf("route add default via %s", routerLAN),
		}
		if l.opts.IPv6 {
			lan = append(lan,
				fmt.Sprintf("address add %s dev %s nodad", pfx(l.Addr6(n), lanNet6.Bits()), hostIf),
				fmt.Sprintf("route add default via %s", routerLAN6))
		}
		if err := ipBatch(ctx, l.ns[n], lan...); err != nil {
			return err
		}
	}
	forward := []string{"net.ipv4.ip_forward=1"}
	if l.opts.IPv6 {
		forward = append(forward, "net.ipv6.conf.all.forwarding=1")
	}
	if _, err := run(ctx, "", "ip", append([]string{"netns", "exec", l.ns[Router], "sysctl", "-q", "-w"}, forward...)...); err != nil {
		return err
	}
	_, err := run(ctx, nftRuleset(routerWANIf, routerLANIf), "ip", "netns", "exec", l.ns[Router], "nft", "-f", "-")
	return err
}

// buildISP builds a nested lab's ISP router: its WAN veth to the WAN host
// (it takes the WAN address), its LAN veth to the home router (whose end is
// the home router's WAN interface), forwarding, and the same firewall as
// the home router's, masquerading on its WAN side.
func (l *Lab) buildISP(ctx context.Context) error {
	pfx := func(a netip.Addr, bits int) string { return netip.PrefixFrom(a, bits).String() }
	ns := l.ns[ISP]
	if err := ipBatch(ctx, ns,
		"link set lo up",
		fmt.Sprintf("link add %s type veth peer name %s netns %s", routerWANIf, hostIf, l.ns[WAN]),
		fmt.Sprintf("link add %s type veth peer name %s netns %s", ispLANIf, routerWANIf, l.ns[Router]),
		fmt.Sprintf("address add %s dev %s", pfx(l.opts.WANAddr, wanNet.Bits()), routerWANIf),
		fmt.Sprintf("address add %s dev %s", pfx(l.isp.mid.isp, l.isp.mid.prefix.Bits()), ispLANIf),
		fmt.Sprintf("link set %s up", routerWANIf),
		fmt.Sprintf("link set %s up", ispLANIf),
		fmt.Sprintf("route add default via %s", wanHost),
	); err != nil {
		return err
	}
	if _, err := run(ctx, "", "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	_, err := run(ctx, nftRuleset(routerWANIf, ispLANIf), "ip", "netns", "exec", ns, "nft", "-f", "-")
	return err
}

// ipv6Sysctls turns off duplicate address detection in every lab
// namespace before its interfaces exist, so that link-local addresses (and
// the global ones, added with nodad) are usable at once: a tentative
// address cannot be bound, and DAD would add a second or more to every
// build. Nothing else shares these links, so no address can be a duplicate.
func (l *Lab) ipv6Sysctls(ctx context.Context) error {
	for _, n := range l.nodeList() {
		if _, err := run(ctx, "", "ip", "netns", "exec", l.ns[n], "sysctl", "-q", "-w",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0"); err != nil {
			return err
		}
	}
	return nil
}

// ipLink is the part of `ip -j -d link show` that verifyIsolated reads.
type ipLink struct {
	Name      string `json:"ifname"`
	LinkNetns *int   `json:"link_netnsid"`
	Info      *struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

// verifyIsolated checks that the lab is sealed: every interface in a lab
// namespace is the loopback, a bridge, or a veth whose peer is in another lab
// namespace. Anything else (a veth into the caller's namespace, a macvlan on a
// real NIC, a moved physical interface) fails the build.
func (l *Lab) verifyIsolated(ctx context.Context) error {
	ours := map[string]bool{}
	for _, n := range l.nodeList() {
		ours[l.ns[n]] = true
	}
	for _, n := range l.nodeList() {
		ns := l.ns[n]
		var links []ipLink
		if err := runJSON(ctx, &links, "ip", "-n", ns, "-j", "-d", "link", "show"); err != nil {
			return err
		}
		ids, err := netnsIDs(ctx, ns)
		if err != nil {
			return err
		}
		for _, lk := range links {
			kind := ""
			if lk.Info != nil {
				kind = lk.Info.Kind
			}
			switch {
			case lk.Name == "lo" && kind == "":
			case kind == "bridge":
			case kind == "veth":
				if lk.LinkNetns == nil || !ours[ids[*lk.LinkNetns]] {
					return fmt.Errorf("netlab: not isolated: veth %s in %s does not lead to another lab namespace", lk.Name, ns)
				}
			default:
				return fmt.Errorf("netlab: not isolated: unexpected interface %s (kind %q) in %s", lk.Name, kind, ns)
			}
		}
	}
	return nil
}

// netnsIDs maps the namespace ids seen from ns to namespace names.
func netnsIDs(ctx context.Context, ns string) (map[int]string, error) {
	var ids []struct {
		ID   int    `json:"nsid"`
		Name string `json:"name"`
	}
	if err := runJSON(ctx, &ids, "ip", "-n", ns, "-j", "netns", "list-id"); err != nil {
		return nil, err
	}
	m := make(map[int]string, len(ids))
	for _, id := range ids {
		m[id.ID] = id.Name
	}
	return m, nil
}
