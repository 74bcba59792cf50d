// Package reach proves that a port is reachable from the Internet: a checker
// server meant to run on a public host, its client, a STUN client, and a
// comparison that tells when the router's external address is not the one the
// Internet sees (upstream NAT).
//
// Nothing here has a default checker host: the client only ever talks to the
// checker or STUN server its caller names. The package imports no mapping
// client; it can verify any port, mapped by upnpmap or not.
//
// # The checker
//
// A [Server] listens on one port (default 3478) for TCP and UDP. On request it
// connects back (TCP) or sends back (UDP) to the address the request came
// from, as the checker observed it, at the port the request names. The request
// carries no address field, so a checker cannot be aimed at another host: it
// is not a scanner. Each source (an IPv4 address, or an IPv6 /64) has a token
// bucket, and the number of probes in flight is capped. A UDP answer plus the
// probe it caused is never larger than the request that caused them.
//
// The same UDP port answers STUN Binding requests (RFC 8489) with
// XOR-MAPPED-ADDRESS (MAPPED-ADDRESS for RFC 3489 clients without the magic
// cookie), and, when the server has a second address ([Server.AltAddr]),
// RFC 5780 OTHER-ADDRESS, RESPONSE-ORIGIN, CHANGE-REQUEST and RESPONSE-PORT.
// STUN messages and checker messages are told apart by their first byte: STUN
// starts with two zero bits, the checker's magic with 0x55. A STUN answer is
// never larger than its request or 44 bytes (header and an IPv6
// XOR-MAPPED-ADDRESS), whichever is more, so that plain 20-byte requests get
// the answer every STUN client needs; RFC 5780 attributes are added only to
// requests padded (PADDING) to carry them, and an answer sent elsewhere
// (RESPONSE-PORT) is never larger than its request.
//
// A request over UDP may come from a spoofed address. The worst it can do is
// make the checker send one probe and one answer, together smaller than the
// request, to the spoofed address, within that address's rate limit; the
// spoofer learns nothing. Over TCP the observed address cannot be spoofed.
//
// Running a checker needs one command on a public host, port 3478 open for
// TCP and UDP: `upnpmap checkd` (examples/systemd/upnpmap-checkd.service runs
// it as a hardened service). Users then run `upnpmap check PORT --checker
// HOST`.
//
// # Wire protocol, version 1
//
// All integers are big-endian. Addresses are 16 bytes, IPv4 in the
// IPv4-mapped IPv6 form (::ffff:a.b.c.d). Reserved and padding bytes are sent
// as zero and must be zero on receipt. Over TCP, each message is sent alone:
// the client writes one request and reads one answer; the checker closes the
// connection after the answer. Over UDP, each message is one datagram; the
// client repeats its request (every second) until the answer comes, and the
// checker ignores a repeat (same source, same nonce) while its probe is under
// way.
//
// Request, client to checker, exactly 96 bytes (the padding makes the request
// larger than everything it causes the checker to send, so UDP cannot amplify):
//
//	offset size field
//	0      4    magic "UPRC" (0x55 0x50 0x52 0x43)
//	4      1    version = 1
//	5      1    type = 1 (request)
//	6      1    protocol to probe: 6 = TCP, 17 = UDP
//	7      1    flags, reserved = 0
//	8      2    port to probe on the requester's observed address, not 0
//	10     2    reserved = 0
//	12     16   nonce, chosen at random by the client
//	28     68   padding = 0
//
// Probe, checker to the requester's observed address and the requested port,
// 32 bytes, sent over a fresh TCP connection or as one UDP datagram:
//
//	0      4    magic
//	4      1    version = 1
//	5      1    type = 3 (probe)
//	6      1    protocol
//	7      1    reserved = 0
//	8      2    port probed
//	10     2    reserved = 0
//	12     16   the request's nonce
//	28     4    reserved = 0
//
// An answering client that receives a probe with its own nonce sends the same
// 32 bytes back on the same connection (or to the datagram's source) with type
// = 4 (echo). It answers no probe whose nonce it did not ask for, so it is no
// echo service for strangers.
//
// Answer, checker to client, 48 bytes:
//
//	0      4    magic
//	4      1    version = 1
//	5      1    type = 2 (answer)
//	6      1    protocol
//	7      1    verdict code (below)
//	8      2    port probed
//	10     2    observed source port of the request
//	12     16   observed source address of the request
//	28     16   the request's nonce
//	44     2    retry after, seconds (with verdict 5 and 6), else 0
//	46     2    reserved = 0
//
// Verdict codes:
//
//	1 ECHOED     the probe arrived and came back as an echo with the nonce:
//	             the path is proven end to end
//	2 OPEN       TCP: the connection was accepted but not echoed (an
//	             application listens); UDP: some datagram came back
//	3 REFUSED    TCP reset, or ICMP port unreachable
//	4 NO_ANSWER  nothing within the checker's probe timeout: dropped on the
//	             way (filtered), or a UDP application that does not answer
//	5 LIMITED    this source exceeded its rate; nothing was probed
//	6 BUSY       too many probes in flight; nothing was probed
//	7 BAD        malformed request or unknown version; nothing was probed
//
// A checker that gets a request with another version answers with version 1
// and verdict 7. Over UDP the checker stays silent towards a source over its
// rate limit (LIMITED is sent over TCP only), so a spoofed flood reflects
// nothing.
//
// # The client
//
// [Client.Check] asks a checker, once per address family the checker has, and
// turns its answer into a [Verdict]: open, refused, filtered, or
// nothing-listening (the checker was refused and nothing on this machine
// listens on the local port: the mapping may well be fine). With
// [Client.Answer], a port nobody listens on is held open for the duration of
// the check, so that the probe itself proves the path before the application
// starts.
package reach
