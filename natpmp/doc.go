// Package natpmp is a NAT Port Mapping Protocol client (RFC 6886).
//
// NAT-PMP asks the default gateway, over UDP port 5351, for its external IPv4
// address and for port mappings to the asking host. A Client talks to one
// gateway, which the caller names: this package never looks up routes or
// multicasts on its own.
//
// Typical use:
//
//	c := &natpmp.Client{Gateway: netip.MustParseAddrPort("192.168.1.1:0")} // port 0 = 5351
//	m, err := c.Map(ctx, natpmp.TCP, 8080, 8080, 2*time.Hour)
//	if err != nil {
//		// errors.Is(err, natpmp.ErrNotAuthorized), ErrOutOfResources, ErrTimeout …
//		return err
//	}
//	fmt.Println("external port", m.ExternalPort, "for", m.Lifetime)
//	// Renew at m.Lifetime/2 with Map(ctx, natpmp.TCP, 8080, m.ExternalPort, …);
//	// if a response has GatewayReset set, the gateway lost its table: map again.
//	defer c.Delete(context.Background(), natpmp.TCP, 8080)
//
// What the package does for the caller:
//
//   - Retransmission per §3.1: the request is sent again after 250 ms, then
//     500 ms, doubling, up to 9 transmissions, always bounded by the context.
//     Without an answer the error matches ErrTimeout (and
//     context.DeadlineExceeded when the context's deadline ended the wait); a
//     cancelled context gives context.Canceled alone. A closed port 5351 (ICMP
//     port unreachable) ends the wait early with an error matching
//     ErrUnsupported.
//   - Only the gateway's address and port are listened to, and a reply must
//     answer the request (opcode, internal port); anything else is ignored and
//     the wait goes on.
//   - The granted port and lifetime are returned as the gateway sent them.
//   - Every response's seconds-since-start-of-epoch goes through the §3.6
//     check; GatewayReset in a response means the gateway lost its mappings.
//   - A non-zero result code becomes a *ResultError that unwraps to the
//     shared sentinels (ErrNotAuthorized is the same value as the PCP and UPnP
//     packages' ErrNotAuthorized, and so on). Codes RFC 6886 does not define
//     are refusals too: they unwrap to ErrRefused (upnpmap.ErrRefused).
//   - A mapping request for a port below 1024 is sent once, not
//     retransmitted: miniupnpd's default rules deny those ports, and it
//     stalls about 45 s on each such request (queueing retransmissions), so
//     a lost datagram costs the caller a timeout rather than the LAN minutes.
//   - A debug record for every request sent and every reply that answers
//     it, when Client.Logger is set.
//
// Announcements (the 12-byte packets gateways multicast to 224.0.0.1:5350)
// are parsed by ParseAnnouncement, or by Client.CheckAnnouncement, which also
// checks the source and the epoch. Listening for them is up to the caller.
//
// For callers that build their own probes, AppendExternalAddressRequest,
// AppendMapRequest and ParseResponse expose the wire format.
package natpmp
