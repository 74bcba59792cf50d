// Package labtest holds the integration tests of upnpmap against a real
// router: miniupnpd 2.3.1 in the network-namespace lab of package netlab.
// It has no code of its own outside its tests.
//
// # What is tested
//
//   - Mapping: from a LAN host, for PCP, NAT-PMP and UPnP, TCP and UDP, the
//     front door (upnpmap.Client with one method) maps a port and a client on
//     the WAN host reaches a server on the LAN host through the router's
//     external address, data going both ways; after Close the port is closed.
//   - Discovery: with a zero Client.Gateway inside a LAN host, the routing
//     table gives the gateway and SSDP multicast on the LAN finds the router;
//     Discover reports all three methods and the external address.
//   - The CLI (built once from ./cmd/upnpmap): add, list and delete, with and
//     without --json, and add --relay forwarding from the WAN to a second
//     LAN host.
//   - Renewal with 5 s NAT-PMP and UPnP leases keeps the port reachable for
//     several lifetimes, while an unrenewed lease of the same length lapses.
//   - A router reboot (state lost, new HTTP port): the library restores each
//     method's mapping; the time to reachability is logged.
//   - A new WAN address is reported (ExternalAddressChanged, External()).
//   - Secure mode: a UPnP mapping for another host is refused (miniupnpd
//     answers 718) and the CLI explains why and suggests --relay; the asking
//     host's own mapping works.
//   - Interop: miniupnpc's `upnpc -l` lists the mappings the library made,
//     with their description.
//   - Six router configurations (TestRouterConfigs, one lab each, in
//     parallel): the defaults, secure mode off, IGD:1 only, PCP third party
//     allowed, NAT-PMP/PCP off, UPnP off. For each, Discover reports the
//     methods that answer; a mapping for this host is made by the best one
//     and reachable; one for the other LAN host is made by the method that
//     can, or refused (ErrNotAuthorized, ErrUnsupported) with nothing
//     opened; List shows them; Close removes them. The router's table is
//     read from its firewall (netlab's Lab.Forwards), not from the client.
//   - miniupnpd 2.3.1 where it parts from the specifications
//     (TestMiniupnpdQuirks): 718 in secure mode, NO_RESOURCES for a PCP
//     delete of nothing, PREFER_FAILURE ignored, a UPnP delete of nothing
//     succeeds, a lower-case protocol is accepted; each pinned by a
//     hand-written request or a stock client, with what upnpmap makes of it.
//   - IPv6 pinholes (TestIPv6Pinholes, netlab's Options.IPv6 lab): from
//     LAN1 the library's igd client (WANIPv6FirewallControl:1 from the
//     description, requests from the host's global address), its pcp
//     client (MAP of the host's IPv6 address) and upnpc -6 each open a
//     pinhole; a WAN client reaches the LAN server's global address only
//     while it exists (data both ways), and the router's nft rule comes and
//     goes with it (UpdatePinhole to a 1 s lease closes it too, within
//     about a second). TestIPv6PinholeRefusals: a pinhole for another host's
//     address or a port below 1024 gets 606 (igd: ErrNotAuthorized) and
//     opens nothing. TestIPv6PCPLinkLocalSource: a PCP MAP to the
//     router's link-local address from an unbound socket opens a useless
//     pinhole for the host's link-local address. BenchmarkIPv6Pinhole times the three in one lab.
//     TestIPv6MapBoth: Client.Map opens the IPv4 mapping and the pinhole,
//     also with the IPv6 default route via the router's link-local address
//     (requests leave from the global address all the same).
//     TestDiscoverIPv6: an M-SEARCH to FF02::C is answered from the
//     router's link-local address, whose LOCATION keeps its zone.
//   - Double NAT (doublenat_test.go, netlab's Options.Nested lab: an ISP
//     router with its own miniupnpd in front of the home router): Map
//     chains through both routers for six pairs of inner/outer methods
//     (Client.Methods, Client.UpstreamMethods), each leg read back from
//     its router's firewall, the WAN host reaches the LAN server through
//     both NATs, and Close empties both tables (TestDoubleNATMap); the
//     upstream router is found by the library itself, and NoChain leaves
//     it alone (TestDoubleNATFound); a reboot of either router is
//     repaired (TestDoubleNATUpstreamReboot, TestDoubleNATInnerReboot); a silent upstream router leaves the
//     inner leg standing and an UpstreamError naming the forward to make
//     by hand (TestDoubleNATUpstreamSilent); behind carrier-grade NAT
//     (100.64.77.0/24, the carrier's router silent) the error says so and
//     points to a relay, an SSH forward or IPv6 (TestDoubleNATCGNAT). The time to a chained mapping
//     is logged. The built CLI (TestDoubleNATCLI): discover shows both
//     routers, add chains and prints both legs, --no-chain does not, and a
//     silent upstream router gets the forward to make by hand.
//     TestDoubleNATCLIDelete: delete removes both legs.
//   - A NAT-PMP or PCP request for a denied port (which stalls miniupnpd
//     for about 45 s) is sent once, counted at the router with an nft
//     counter (TestDeniedPortSentOnce).
//   - Router compatibility (compat_test.go), the router made to misbehave
//     with nft drops in its input path, a counter showing the dropped
//     requests were sent: with UDP 5351 dropped in secure mode, UPnP's 718
//     for another host wins over PCP's and NAT-PMP's silence (the front
//     door's ErrNotAuthorized, the CLI's exit 3 with the secure-mode
//     advice; TestRefusalWinsOverSilentPCP); with unicast M-SEARCHes
//     dropped (a router that answers only multicast searches), `upnpmap
//     add --gateway IP` finds it by multicast on the interface facing it
//     (TestMulticastOnlyRouter). A mapping whose record is lost is
//     deleted by `delete -m natpmp`, left (and said so) by `delete -m pcp`,
//     and `list -m pcp` does not claim the router ignores UPnP
//     (TestDeleteWithoutRecord).
//
// Code that starts goroutines of its own (the front door, the CLI) must not
// run inside the test process on a thread that entered a lab namespace, so
// the tests run it as separate processes with netlab's Lab.Cmd: the CLI
// binary, and the test binary itself re-executed in "client mode"
// (client_test.go), which drives the front door and prints one JSON object
// per line for every result and event; its "session" mode
// (client_session_test.go) runs one Client through a sequence of commands
// (discover, map, list, close, delete), one answer per command. Servers and the WAN-side clients are
// plain sockets opened with Lab.Listen, Lab.ListenUDP and Lab.Dial.
//
// # Running the tests locally
//
// They need Linux, root, Go, and the Debian packages iproute2, nftables,
// procps, miniupnpd-nftables and miniupnpc (apt-get install iproute2
// nftables procps miniupnpd-nftables miniupnpc). Run them from a
// loopback-only namespace, so that nothing can reach a real network even by
// mistake; the lab builds its own namespaces from there:
//
//	sudo ip netns add t-labtest
//	sudo ip -n t-labtest link set lo up
//	sudo ip netns exec t-labtest go test -race -count=1 -v ./internal/netlab/labtest/
//	sudo ip netns del t-labtest
//
// -v shows the timings: each test logs what it measured (the router restart
// also prints its line to stdout), and TestMain prints the package's total
// time. go test hides the output of a passing package without -v. Without
// root or a package the tests skip with the reason; with CI=true they fail
// instead. Each test builds its own lab (0.2–0.8 s) and the long ones run in
// parallel. A run takes about 30 s on two cores, most of it spent waiting on
// purpose (leases running out, mappings aging before the reboot, upnpc's 2 s
// search); the CLI is built once, with -race when the tests are. Nothing is
// left behind: TestMain checks with netlab.CheckClean that no namespace,
// process, link or nft table of a lab survives the run, and fails the run
// otherwise. A -race child process that finds a data race (exit status 66)
// fails its test.
package labtest
