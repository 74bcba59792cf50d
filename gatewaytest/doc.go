// Package gatewaytest is a fake home router for tests, in the spirit of
// net/http/httptest. It speaks NAT-PMP (RFC 6886), PCP (RFC 6887), unicast
// SSDP and UPnP IGD v1/v2 (description and SOAP control), keeps one mapping
// table shared by the three protocols (as miniupnpd does), and has knobs for
// what real routers do: reboots, external address changes with
// announcements, refusals, silence, slow answers, decoy replies, IGD v1 or
// PPP only, permanent leases only, secure mode, conflicts, error injection.
//
// Beyond the specifications it can behave as particular routers do:
// Config.Miniupnpd turns on every measured deviation of miniupnpd 2.3.1
// (each also a knob of its own); FailActionText, OnlyLayer3Forwarding,
// NestedDevices, FriendlyName and SetResult with undefined codes play
// hostile or broken routers; and Config.Replay serves a captured real
// router's description, SCPDs and SOAP answers (testdata/routers/…) over the
// gateway's working table, where SetServiceDown unplugs one WAN of a
// multi-WAN capture. Config.OnChange reports every change to the table
// as it happens.
//
// IPv6: under IGD:2 the WANConnectionDevice also offers
// WANIPv6FirewallControl:1 (at miniupnpd's /ctl/IP6FCtl), whose pinholes
// Pinholes lists beside the IPv6 PCP MAPs, and Config.OnChange reports them
// (Change.PinholeID). With Config.IPv6 the gateway also serves PCP and HTTP
// on [::1] at ephemeral ports (PCPAddr6, HTTPAddr6, LocationURL6); Start
// fails, naming [::1], on a host without IPv6 loopback. On loopback every
// IPv6 request comes from ::1, which the gateway takes for Config.IPv6Host
// (default 2001:db8:77::20): a PCP MAP from [::1] opens a pinhole for
// IPv6Host, and AddPinhole names IPv6Host as its InternalClient (clients
// refuse to send a loopback one). Knobs play the routers of the field:
// FirewallDisabled (702), InboundPinholesDisallowed (703), PinholeStrict
// (miniupnpd's 606 policy), PinholeGoneAs402, DeletePinhole606,
// PCPv6Unsupported and PCPv6RenewNoResources (OPNsense).
//
// It is written from the specifications and imports none of this module's
// clients, so that a client passing against it has agreed with an
// independent reading of the protocols. Where the specifications leave room
// it imitates miniupnpd, and says so.
//
// Every Gateway binds a fresh loopback address 127.x.y.z (Linux routes all of
// 127.0.0.0/8 to lo), so that it can own UDP 5351 (NAT-PMP/PCP) and UDP 1900
// (SSDP) there while other gateways own theirs; HTTP uses an ephemeral TCP
// port of the same address. Nothing is ever multicast: announcements go only
// to Config.AnnounceTo. Clients in a test reach the gateway from 127.0.0.1
// by default; bind another 127.x address to play a second LAN host.
//
// Typical use:
//
//	func TestMap(t *testing.T) {
//		gw := gatewaytest.New(t, gatewaytest.Config{}) // closed by t.Cleanup
//		client := natpmp.Client{Gateway: gw.PCPAddr()}
//		res, err := client.Map(ctx, natpmp.TCP, 8080, 8080, time.Hour)
//		...
//		for _, m := range gw.Mappings() { ... } // what the router holds
//		gw.Reboot()                            // table and epoch lost
//	}
//
// Use Start and Close where no test is at hand (the CLI's demo). New takes
// a TB, the few methods of testing.TB it calls, so that the package does not
// link package testing into a program that imports it.
//
// Time: expiry and epochs follow Config.Now, so a test can inject a clock
// and age mappings without sleeping; the gateway never fires timers on its
// own (expired entries vanish when the table is next read).
package gatewaytest
