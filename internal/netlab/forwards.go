//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
)

// Forward is one port forward in the router's firewall: a DNAT rule that
// miniupnpd installed for a mapping, whichever protocol (UPnP, NAT-PMP, PCP)
// asked for it. Reading them is how a test checks the router's table without
// asking miniupnpd, that is, without trusting the client under test.
type Forward struct {
	Protocol     string // "tcp" or "udp"
	ExternalPort uint16
	Internal     netip.AddrPort
}

func (f Forward) String() string {
	return fmt.Sprintf("%s %d -> %v", f.Protocol, f.ExternalPort, f.Internal)
}

// Forwards lists the DNAT rules in miniupnpd's chain, sorted by protocol and
// external port.
func (l *Lab) Forwards(ctx context.Context) ([]Forward, error) {
	return forwardsIn(ctx, l.ns[Router])
}

// forwardsIn lists the DNAT rules of the miniupnpd running in ns.
func forwardsIn(ctx context.Context, ns string) ([]Forward, error) {
	var doc nftDoc
	if err := runJSON(ctx, &doc, "ip", "netns", "exec", ns,
		"nft", "-j", "list", "chain", "inet", nftTable, nftPreroutingChain); err != nil {
		return nil, err
	}
	return doc.forwards()
}

// nftDoc is the part of `nft -j list chain` that Forwards reads. A rule
// miniupnpd 2.3.1 writes looks like this (nft 1.0.6):
//
//	iif "wan0" @nh,72,8 0x6 th dport 18090 dnat ip to 192.168.77.11:18080
//
// that is, in JSON, matches on the IPv4 protocol byte (offset 72, length 8)
// and the transport destination port, then a dnat statement.
type nftDoc struct {
	Nftables []struct {
		Rule *struct {
			Expr []struct {
				Match *struct {
					Left struct {
						Payload *struct {
							Base     string `json:"base"`
							Offset   int    `json:"offset"`
							Len      int    `json:"len"`
							Protocol string `json:"protocol"`
							Field    string `json:"field"`
						} `json:"payload"`
					} `json:"left"`
					Right json.RawMessage `json:"right"`
				} `json:"match"`
				DNAT *struct {
					Addr string `json:"addr"`
					Port uint16 `json:"port"`
				} `json:"dnat"`
			} `json:"expr"`
		} `json:"rule"`
	} `json:"nftables"`
}

// IP protocol numbers in the rules.
const (
	ipprotoTCP = 6
	ipprotoUDP = 17
)

func (d *nftDoc) forwards() ([]Forward, error) {
	var out []Forward
	for _, item := range d.Nftables {
		if item.Rule == nil {
			continue
		}
		var f Forward
		var proto, port int
		for _, e := range item.Rule.Expr {
			switch {
			case e.DNAT != nil:
				a, err := netip.ParseAddr(e.DNAT.Addr)
				if err != nil {
					return nil, fmt.Errorf("netlab: nft rule: dnat address %q: %w", e.DNAT.Addr, err)
				}
				f.Internal = netip.AddrPortFrom(a, e.DNAT.Port)
			case e.Match != nil && e.Match.Left.Payload != nil:
				p := e.Match.Left.Payload
				var v int
				if err := json.Unmarshal(e.Match.Right, &v); err != nil {
					continue // a match on something else (a set, a range)
				}
				switch {
				case p.Base == "nh" && p.Offset == 72 && p.Len == 8:
					proto = v
				case p.Field == "dport":
					port = v
				}
			}
		}
		if !f.Internal.IsValid() {
			continue // not a forward
		}
		switch proto {
		case ipprotoTCP:
			f.Protocol = "tcp"
		case ipprotoUDP:
			f.Protocol = "udp"
		default:
			return nil, fmt.Errorf("netlab: nft rule to %v: IP protocol %d", f.Internal, proto)
		}
		if port <= 0 || port > 65535 {
			return nil, fmt.Errorf("netlab: nft rule to %v: destination port %d", f.Internal, port)
		}
		f.ExternalPort = uint16(port)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Protocol != out[j].Protocol {
			return out[i].Protocol < out[j].Protocol
		}
		return out[i].ExternalPort < out[j].ExternalPort
	})
	return out, nil
}
