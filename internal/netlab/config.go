//go:build linux

package netlab

import (
	"fmt"
	"strings"
)

// nftTable and the chain names are what miniupnpd 2.3.1's nftables backend
// uses by default (its debug log names them: "filter miniupnpd",
// "filter prerouting_miniupnpd"); the config file repeats them so the link is
// explicit. The build has no upnp_nftables_family_split, so everything lives
// in one table of family inet.
const (
	nftTable           = "filter"
	nftForwardChain    = "miniupnpd"
	nftPreroutingChain = "prerouting_miniupnpd"
	nftPostroutingChn  = "postrouting_miniupnpd"
)

// nftRuleset is the router's firewall, loaded before miniupnpd starts because
// miniupnpd never creates its table or chains (without them every mapping
// fails with 501 ActionFailed). The base chains are what a home router has:
// forwarding dropped except replies, LAN to WAN, within the LAN (a host with
// br_netfilter loaded sends bridged frames through this chain too), and what
// miniupnpd opens;
// masquerade on the WAN side for IPv4 only (IPv6 is routed, not translated:
// the inet family's nat chains see both). The same forward chain filters
// IPv6 (the table is inet), so new inbound IPv6 is dropped, and miniupnpd
// 2.3.1 with IPv6 on puts its pinholes in the same forward chain as its
// IPv4 accept rules: it needs no ip6 table or chain of its own. miniupnpd fills the three *miniupnpd chains:
// DNAT rules in prerouting_miniupnpd and matching accept rules in miniupnpd.
func nftRuleset(wanIf, lanIf string) string {
	return fmt.Sprintf(`table inet %[3]s {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname %[2]q oifname %[2]q accept
		iifname %[2]q oifname %[1]q accept
		jump %[4]s
	}
	chain %[4]s {
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump %[5]s
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump %[6]s
		meta nfproto ipv4 oifname %[1]q masquerade
	}
	chain %[5]s {
	}
	chain %[6]s {
	}
}
`, wanIf, lanIf, nftTable, nftForwardChain, nftPreroutingChain, nftPostroutingChn)
}

// nftFlushMiniupnpd empties miniupnpd's chains: what a reboot does to a real
// router's mappings. miniupnpd itself leaves its rules in place when it exits
// and would find them again at start.
func nftFlushMiniupnpd() string {
	var b strings.Builder
	for _, c := range []string{nftForwardChain, nftPreroutingChain, nftPostroutingChn} {
		fmt.Fprintf(&b, "flush chain inet %s %s\n", nftTable, c)
	}
	return b.String()
}

// routerConfig is what miniupnpdConf needs to know.
type routerConfig struct {
	opts     Options
	wanIf    string
	lanIf    string
	httpPort uint16
	stunHost string
	stunPort uint16
	lanNet   string // e.g. 192.168.77.0/24
	uuid     string // UPnP UUID; empty means labUUID
	name     string // friendly_name; empty means "upnpmap lab router"
}

// miniupnpdConf renders miniupnpd.conf. miniupnpd 2.3.1 has no
// ext_allow_private_ipv4 and no enable_pcp_pmp (an unknown option is a fatal
// error): enable_natpmp turns on both NAT-PMP and PCP.
func miniupnpdConf(c routerConfig) string {
	yesno := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# written by internal/netlab; see its package documentation")
	line("ext_ifname=%s", c.wanIf)
	line("listening_ip=%s", c.lanIf) // an interface name: with IPv6 compiled in, an address is refused
	line("http_port=%d", c.httpPort)
	line("enable_upnp=%s", yesno(!c.opts.DisableUPnP))
	line("enable_natpmp=%s", yesno(!c.opts.DisableNATPMP))
	// The WAN address is public-looking already; STUN is still used because
	// that is how 2.3.1 learns the address it reports, and it makes an address
	// change (SIGUSR1) go through the same path as on a router behind a modem.
	line("ext_perform_stun=yes")
	line("ext_stun_host=%s", c.stunHost)
	line("ext_stun_port=%d", c.stunPort)
	line("secure_mode=%s", yesno(!c.opts.InsecureMode))
	line("pcp_allow_thirdparty=%s", yesno(c.opts.PCPAllowThirdParty))
	if c.opts.IGDv1 {
		line("force_igd_desc_v1=yes")
	}
	line("min_lifetime=120") // the lowest miniupnpd accepts (RFC 6887 §15)
	line("max_lifetime=86400")
	line("clean_ruleset_interval=600")
	if c.opts.IPv6 {
		// ext_ifname6 is where pinholes let traffic in from. No
		// ipv6_listening_ip: it would become the bind address of every IPv6
		// socket, and an SSDP socket bound to a unicast address never sees
		// an M-SEARCH to ff02::c. listening_ip (an interface) covers both
		// families.
		line("ipv6_disable=no")
		line("ext_ifname6=%s", c.wanIf)
	} else {
		line("ipv6_disable=yes")
	}
	line("system_uptime=no")
	uuid, name := c.uuid, c.name
	if uuid == "" {
		uuid = labUUID
	}
	if name == "" {
		name = "upnpmap lab router"
	}
	line("uuid=%s", uuid)
	line("friendly_name=%s", name)
	line("model_number=1")
	line("serial=00000001")
	line("upnp_table_name=%s", nftTable)
	line("upnp_nat_table_name=%s", nftTable)
	line("upnp_forward_chain=%s", nftForwardChain)
	line("upnp_nat_chain=%s", nftPreroutingChain)
	line("upnp_nat_postrouting_chain=%s", nftPostroutingChn)
	for _, extra := range c.opts.ExtraConfig {
		line("%s", extra)
	}
	// Permission rules: first match wins, no match means accept, so the final
	// deny is what makes the allow list mean something.
	line("allow 1024-65535 %s 1024-65535", c.lanNet)
	line("deny 0-65535 0.0.0.0/0 0-65535")
	return b.String()
}

// labUUID is the router's UPnP UUID (fixed, so descriptions are comparable
// between runs).
const labUUID = "75706e70-6d61-7000-6c61-620000000001"

// ispUUID is the ISP router's UUID in a nested lab: another device, so a
// client that tells routers apart by UUID sees two. miniupnpd numbers its
// embedded devices by adding 1 and 2 to the last digits (labUUID's are
// ...02 and ...03), so the two must be further apart than that.
const ispUUID = "75706e70-6d61-7000-6c61-620000000011"
