// Package pcp is a Port Control Protocol client (RFC 6887): MAP, PEER and
// ANNOUNCE over IPv4 and IPv6, with the THIRD_PARTY, PREFER_FAILURE and
// FILTER options.
//
// A Client talks to one server, normally the default gateway on UDP port
// 5351, which the caller names: this package never looks up routes or
// multicasts on its own.
//
// Typical use:
//
//	c := &pcp.Client{Server: netip.MustParseAddrPort("192.168.1.1:0")} // port 0 = 5351
//	m, err := c.Map(ctx, pcp.MapRequest{
//		Protocol:     pcp.TCP,
//		InternalPort: 8080,
//		Lifetime:     2 * time.Hour,
//	})
//	switch {
//	case errors.Is(err, pcp.ErrSpeaksNATPMP):
//		// the gateway speaks NAT-PMP only: use package natpmp
//	case err != nil:
//		return err // errors.Is(err, pcp.ErrNotAuthorized), ErrPortInUse, ErrTimeout …
//	}
//	fmt.Println("reachable at", m.External, "for", m.Lifetime)
//	// Renew before m.Lifetime runs out with the same nonce:
//	//   c.Map(ctx, pcp.MapRequest{…, Nonce: m.Nonce, SuggestedExternal: m.External})
//	// If a response has GatewayReset set, the server lost its table: map again.
//	defer c.Delete(context.Background(), m)
//
// What the package does for the caller:
//
//   - A fresh 96-bit random nonce per new mapping; the response carries it
//     for renewal and delete. A response must echo the opcode, nonce,
//     protocol and internal port (and remote peer, for PEER) to count;
//     anything else is ignored and the wait goes on.
//   - The request header carries the socket's own address (IPv4 as an
//     IPv4-mapped address), as the server checks it against the source.
//   - Retransmission per §8.1.1 (3 s, then about twice as long each time,
//     with ±10 % jitter, at most 1024 s apart) within a finite budget: the
//     context's deadline, or Client.MaxDuration (15 s) when it has none. RFC
//     6887 would retransmit for ever; a client that must fall back to
//     another protocol cannot. Without an answer the error matches
//     ErrTimeout (and context.DeadlineExceeded when the context's deadline
//     was the budget); a cancelled context gives context.Canceled alone; a
//     closed port 5351 ends the wait early with ErrUnsupported.
//   - Every response's epoch goes through the §8.5 check; GatewayReset in a
//     response means the server lost its mappings.
//   - A version-0 reply (a NAT-PMP server's "unsupported version") returns
//     an error matching ErrSpeaksNATPMP. Other result codes become a
//     *ResultError that unwraps to the shared sentinels (ErrNotAuthorized is
//     the same value as natpmp's and igd's) and carries the server's
//     lifetime for the error; a code RFC 6887 does not define, and
//     ADDRESS_MISMATCH, unwrap to ErrRefused.
//   - A MAP for a port below 1024 is sent once, not retransmitted:
//     miniupnpd's default rules deny those ports, and it stalls about 45 s
//     on each such request (queueing retransmissions).
//   - A debug record for every request sent and every reply that answers
//     it, when Client.Logger is set.
//
// PCP has no request for the external address alone; Client.ExternalAddress
// learns it with a short-lived mapping it deletes at once (RFC 6887 §11.6).
//
// ParseResponse parses any PCP response, for the unsolicited ANNOUNCE and
// MAP responses servers multicast to port 5350; Client.CheckUnsolicited also
// checks their source and epoch. Listening on 5350 is up to the caller.
// AppendMapRequest, AppendPeerRequest and AppendAnnounceRequest expose the
// wire format to callers that build their own probes.
package pcp
