//go:build linux

package netlab

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

// Pinhole is one IPv6 pinhole in the router's firewall: an accept rule
// miniupnpd installed in its forward chain for UPnP AddPinhole or a PCP MAP
// of an IPv6 address. Reading them checks the router's state without asking
// miniupnpd.
type Pinhole struct {
	Protocol string         // "tcp" or "udp"
	Internal netip.AddrPort // the LAN host's address and port it opens
}

func (p Pinhole) String() string { return fmt.Sprintf("%s %v", p.Protocol, p.Internal) }

// pinholeRule matches a pinhole as nft 1.0.6 prints the rule miniupnpd
// 2.3.1 writes: the destination address as the raw 128 bits at network
// header offset 192, the protocol as the byte at offset 48 (the IPv6 next
// header), for example
//
//	iif "wan0" th dport 18600 @nh,192,128 0x20010db8007700000000000000000010 @nh,48,8 0x6 accept
//
// A pinhole with a remote host has a source match too, which this skips.
var pinholeRule = regexp.MustCompile(`th dport (\d+) .*@nh,192,128 0x([0-9a-f]{32}) @nh,48,8 0x([0-9a-f]{1,2}) `)

// Pinholes lists the IPv6 pinholes in miniupnpd's forward chain, in rule
// order.
func (l *Lab) Pinholes(ctx context.Context) ([]Pinhole, error) {
	out, err := run(ctx, "", "ip", "netns", "exec", l.ns[Router], "nft", "list", "chain", "inet", nftTable, nftForwardChain)
	if err != nil {
		return nil, err
	}
	return parsePinholes(out)
}

// parsePinholes reads the pinhole rules out of `nft list chain` output.
func parsePinholes(out string) ([]Pinhole, error) {
	var ps []Pinhole
	for _, m := range pinholeRule.FindAllStringSubmatch(out, -1) {
		port, err := strconv.ParseUint(m[1], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("netlab: pinhole rule port %q: %w", m[1], err)
		}
		raw, err := hex.DecodeString(m[2])
		if err != nil {
			return nil, fmt.Errorf("netlab: pinhole rule address %q: %w", m[2], err)
		}
		proto, err := strconv.ParseUint(m[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("netlab: pinhole rule protocol %q: %w", m[3], err)
		}
		name := map[uint64]string{6: "tcp", 17: "udp"}[proto]
		if name == "" {
			name = strconv.FormatUint(proto, 10)
		}
		ps = append(ps, Pinhole{Protocol: name, Internal: netip.AddrPortFrom(netip.AddrFrom16([16]byte(raw)), uint16(port))})
	}
	return ps, nil
}
