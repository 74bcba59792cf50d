// Package netlab builds a throwaway home network out of Linux network
// namespaces, with a real router in it: Debian's miniupnpd 2.3.1 (nftables
// backend) speaking UPnP IGD:2, NAT-PMP and PCP. Integration tests run the
// stock clients (upnpc, natpmpc) or our own code against it and check from the
// "Internet" side that a mapped port really is reachable.
//
// # Topology
//
//	wan (1.2.3.1, 1.2.3.2)         STUN responder (in the test process), remote peer
//	 | eth0
//	 |  1.2.3.0/24                 no route anywhere else
//	 | wan0 (1.2.3.4)
//	rtr                            miniupnpd -d, nftables (DNAT, forward filter,
//	 | br0 (192.168.77.1)          masquerade on wan0), ip_forward=1
//	 +-- veth-lan1 ---- eth0 lan1 (192.168.77.10, default via .1)
//	 +-- veth-lan2 ---- eth0 lan2 (192.168.77.11, default via .1)
//
// With Options.IPv6 every node also has a global address from
// 2001:db8::/32 (Lab.Addr6): the WAN link is 2001:db8:1::/64 (WAN host ::1,
// router ::4) and the LAN 2001:db8:77::/64 (router ::1, lan1 ::10, lan2
// ::11), routed by the WAN host to the router, as a delegated prefix is.
// IPv6 is routed, not translated; the router's forward policy drops new
// inbound IPv6, so a LAN host's port is reachable from the WAN only through
// a pinhole (UPnP WANIPv6FirewallControl:1 or PCP MAP), which Lab.Pinholes
// reads back from nft.
//
// # Double NAT (Options.Nested)
//
//	wan (1.2.3.1, 1.2.3.2)         STUN responder for the ISP router, remote peer
//	 | eth0   1.2.3.0/24
//	 | wan0 (1.2.3.4)
//	isp                            miniupnpd (UPnP, NAT-PMP, PCP; Options.ISP),
//	 | lan0 (10.77.0.1)            nftables, masquerade on wan0; STUN responder
//	 |  10.77.0.0/24               for the home router on 10.77.0.1 (alt 1.2.3.4)
//	 | wan0 (10.77.0.2)
//	rtr                            the home router, as above
//	 | br0 (192.168.77.1)
//	 +-- lan1, lan2
//
// The home router's WAN address is reserved, so miniupnpd 2.3.1 forwards
// only once STUN says it is public: the responder in the ISP namespace sees
// its requests come from 10.77.0.2 and says so, and the home router adopts
// and reports 10.77.0.2 (Lab.ExternalAddr). Requests from a LAN host to the
// ISP router (Lab.ISPGateway) cross the home router's NAT and arrive from
// 10.77.0.2, so a chained mapping's outer leg forwards to 10.77.0.2 and the
// inner leg's external port. Lab.ISPForwards, ISPLog, KillISPRouter (the
// upstream router goes silent, its forwards stay) and RestartISPRouter (a
// reboot: forwards lost, next HTTP port) look at and act on the ISP router
// as the unprefixed methods do on the home router. Multicast (SSDP, the
// announcements) does not cross the home router; unicast to 10.77.0.1 does.
// ISPOptions.CGNAT moves the middle network to 100.64.77.0/24, the shared
// address space of carrier-grade NAT; the STUN trick works the same.
//
// Namespaces are named "upm-<pid>-<n>-<node>" (Lab.Netns). Interface names are
// the same in every lab, since each namespace has its own.
//
// # Why 1.2.3.0/24 and STUN
//
// miniupnpd 2.3.1 refuses every mapping when its WAN address is in a reserved
// range (RFC 1918, 100.64/10, the three RFC 5737 documentation nets, 198.18/15
// and more), and this version has no ext_allow_private_ipv4. So the WAN link
// uses a public-looking range. That is safe only because the lab is sealed:
// every veth is created with both ends inside lab namespaces, none of them
// ever exists in the caller's namespace, and New verifies that each lab
// interface is a loopback, a bridge, or a veth into another lab namespace.
// miniupnpd learns its external address by STUN (ext_perform_stun=yes): four
// Binding Requests (plain, change port, change IP, change both) that must all
// be answered with the requester's address and port. The responder in this
// package answers them from the primary or alternate address and port, as
// RFC 3489 asks, with MAPPED-ADDRESS and, for RFC 5389 requests,
// XOR-MAPPED-ADDRESS.
//
// # miniupnpd 2.3.1, as the lab found it
//
//   - The nft objects must exist before it starts: table inet filter with the
//     chains miniupnpd (forward accepts), prerouting_miniupnpd (DNAT) and
//     postrouting_miniupnpd, each jumped to from a base chain. Without them
//     every AddPortMapping answers 501. Debian's nft_init.sh cannot create
//     them (it sources the iptables helper, so $TABLE is empty).
//   - It leaves its rules in place when it exits, and would find them again at
//     start; RestartRouter flushes the three chains to model a reboot.
//   - enable_pcp_pmp is not an option of this version; enable_natpmp=yes turns
//     on NAT-PMP and PCP.
//   - Its signal handlers only set a flag. A SIGUSR1 or SIGTERM that lands
//     between its loop check and select() is not seen until select times out,
//     so the lab repeats signals until the log shows a reaction.
//   - It watches the WAN interface by netlink: an address change alone
//     triggers STUN and the NAT-PMP/PCP announcements; SIGUSR1 then does it
//     again. Clients see more than one announcement per change, with the
//     epoch reset to 0.
//   - With ipv6_disable=no and ext_ifname6 (Options.IPv6) it needs no nft
//     object beyond the IPv4 ones: pinholes are accept rules in the same
//     forward chain of the inet table ("iif wan0 th dport P @nh,192,128
//     <address> @nh,48,8 <protocol> accept"); there is no ip6 table. It
//     accepts a UPnP pinhole only from the address it opens, over the IPv6
//     control URL (Lab.DescURL6), and a PCP MAP of an IPv6 address opens
//     that address and port (no translation). ipv6_listening_ip must stay
//     unset: it would bind the SSDP socket to a unicast address.
//   - Announcements go to 224.0.0.1:5350 (and :5351) on br0. On Linux a
//     socket listening on "0.0.0.0:5350" must be IPv4 ("udp4"): Go's "udp"
//     opens a dual-stack IPv6 socket, which does not receive them.
//
// # Running the lab tests
//
// They need Linux, root, and the Debian packages iproute2, nftables, procps,
// miniupnpd-nftables, miniupnpc and natpmpc (socat is not needed: servers and
// clients in the lab are Go sockets opened with Lab.Listen and Lab.Dial):
//
//	ip netns add t-me; ip -n t-me link set lo up   # a loopback-only place to run from
//	ip netns exec t-me go test ./internal/netlab/ -run Lab -v
//	ip netns del t-me
//
// Without root or a command they skip with the reason; with CI=true they
// fail instead (Require), so CI cannot pass by skipping. A lab builds in about
// 0.1–0.5 s and tears down in about 0.1 s; the whole package's tests take
// about 10 s, most of it upnpc's fixed 2 s discovery wait.
//
// Everything a lab creates is removed by Close (registered with t.Cleanup):
// miniupnpd and the STUN responder stop, leftover processes in the lab
// namespaces are killed by pid, and the namespaces are deleted, taking their
// veths, bridge and nft tables with them. Debris of a crashed run (namespaces
// named after a pid that no longer runs) is removed by the next New
// (CleanStale). Processes are found by the namespace's inode, both those
// inside and those on their way in (`ip netns exec NAME` holds the
// namespace open before it joins), and are looked for again once the name
// is gone. CheckClean reports anything a lab of this process left.
//
// # Looking at the router from outside
//
// Tests should not trust the client under test to report what the router
// did. Lab.Forwards reads the DNAT rules miniupnpd installed (one per
// mapping, whichever protocol made it); Lab.CountPackets and Lab.Packets
// count the packets that reach the router (nft counters in a table of their
// own); Lab.Log is the daemon's debug log (it names every SOAPAction, for
// example). Lab.KillRouter stops a daemon that no longer listens to SIGTERM
// (busy walking its ports after a NAT-PMP/PCP request for a denied port).
//
// # Typical use
//
//	func TestSomething(t *testing.T) {
//		netlab.Require(t, "upnpc")
//		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
//		defer cancel()
//		lab, err := netlab.New(ctx, t, netlab.Options{})
//		if err != nil {
//			t.Fatal(err)
//		}
//		ln, _ := lab.Listen(netlab.LAN1, "192.168.77.10:8080") // a server on a LAN host
//		defer ln.Close()
//		out, err := lab.Exec(ctx, netlab.LAN1, "upnpc", "-i", "-e", "t",
//			"-a", "192.168.77.10", "8080", "8080", "TCP")
//		...
//		c, err := lab.Dial(ctx, netlab.WAN, "tcp4", lab.ExternalAddr().String()+":8080")
//		...
//	}
//
// Lab.Do, Listen, ListenUDP and Dial run on a thread that has entered the
// node's namespace; sockets keep that namespace. They are for code that opens
// its sockets on the calling goroutine. Code with goroutines of its own (a
// client library, the CLI) belongs in a process started in the namespace with
// Lab.Cmd, for example the test binary itself re-executed.
//
// The lab is Linux-only: apart from Available and Require, the package's
// code is built only on Linux, so tests that use it need "//go:build linux".
package netlab
