package upnpmap

import (
	"net/netip"
	"time"
)

// Finding the upstream router of a double NAT automatically (Linux; see
// upstream_probe_linux.go). The probe is a UDP datagram with TTL 2 sent
// towards upstreamProbeDest: the gateway (hop 1) forwards it with TTL 1,
// and the router after it (hop 2, the upstream router) cannot forward it
// and answers ICMP time exceeded (or, without a route, destination
// unreachable) from its LAN address — the address to map on. The
// datagram dies at hop 2 whatever the destination, so nothing leaves the
// path to the upstream router.
//
// Why this way:
//   - An unprivileged UDP socket with IP_RECVERR receives the ICMP error
//     with the offender's address on its error queue; a classic traceroute
//     needs a raw socket (CAP_NET_RAW), and ICMP echo sockets are off on
//     many systems (net.ipv4.ping_group_range).
//   - The routing table only knows the gateway, and guessing (the gateway's
//     WAN network's .1) would send requests to a host that may be anyone's:
//     only what the packet reveals is used, and the Map that follows on the
//     upstream router confirms it (a router that does not answer PCP,
//     NAT-PMP or UPnP leaves the chain unmade).
//   - What the gateway's UPnP or PCP answers tell does not name the
//     router in front of it (a WAN gateway address is not in IGD's
//     WANIPConnection, nor in PCP).
//
// What it sends: at most upstreamProbeCount datagrams of a few bytes, to
// UDP port 33434 (traceroute's) of 192.0.2.1 (TEST-NET-1, RFC 5737: never
// a real host, so even a path that is longer than it seems delivers the
// probe nowhere), each with TTL 2, spaced upstreamProbeGap apart, within
// upstreamProbeWait.
const (
	upstreamProbeTTL   = 2
	upstreamProbeCount = 3
	upstreamProbeGap   = 200 * time.Millisecond
	upstreamProbeWait  = time.Second
)

// upstreamProbeDest is where the probe is aimed (see above).
var upstreamProbeDest = netip.MustParseAddrPort("192.0.2.1:33434")

// upstreamProbePayload says what the datagram is to anyone who captures it.
var upstreamProbePayload = []byte("upnpmap upstream router probe (TTL 2)")
