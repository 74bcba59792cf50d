//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// breakTable is the nft table that holds BreakForward's drop rules, apart
// from miniupnpd's table so that the router's own rules (and a restart's
// flush) do not touch them.
const breakTable = "netlab_break"

// breakMark is the packet mark of a broken forward's traffic.
const breakMark = 0x42

// Break is a forward broken by BreakForward or DropInbound.
type Break struct {
	l    *Lab
	name string // the counter's name, also the drop rule's comment

	once sync.Once
	err  error
}

// BreakForward breaks the forward of one mapping the way routers are seen
// to (the mapping listed and renewed, its traffic going nowhere), in a way
// only a delete and re-create of the mapping cures: miniupnpd's DNAT rule
// for proto ("tcp" or "udp") and externalPort is replaced in place (same
// handle, same matches, same target, so miniupnpd still lists the mapping
// and deletes that very rule when asked) by one that also marks the
// packets, and a drop rule in the router's forward path, in a table of its
// own, drops marked packets. The rule miniupnpd writes when the mapping is
// re-created carries no mark. Remove deletes the drop rule.
//
// Use it on mappings made by UPnP: the replaced rule loses the user data
// miniupnpd 2.3.1 keeps in it (the description, and for PCP the label
// "PCP MAP <nonce>" by which it authorises a delete; nft cannot show or
// write that data), so a PCP or NAT-PMP client could no longer delete
// its mapping ("Unauthorized to remove PCP mapping"). A UPnP delete
// names only the protocol and external port.
func (l *Lab) BreakForward(ctx context.Context, proto string, externalPort uint16) (*Break, error) {
	var ipproto int
	switch proto {
	case "tcp":
		ipproto = ipprotoTCP
	case "udp":
		ipproto = ipprotoUDP
	default:
		return nil, fmt.Errorf("netlab: BreakForward: protocol %q, want tcp or udp", proto)
	}
	handle, f, err := l.forwardRule(ctx, proto, externalPort)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("drop_%s_%d", proto, externalPort)
	script := fmt.Sprintf(`add table inet %[1]s
add chain inet %[1]s forward { type filter hook forward priority -10; policy accept; }
add counter inet %[1]s %[2]s
add rule inet %[1]s forward meta mark %[3]d counter name %[2]s drop comment "%[2]s"
replace rule inet %[4]s %[5]s handle %[6]d iif "%[7]s" @nh,72,8 %[8]d th dport %[9]d meta l4proto %[10]s meta mark set %[3]d dnat ip to %[11]s
`, breakTable, name, breakMark, nftTable, nftPreroutingChain, handle, routerWANIf, ipproto, externalPort, proto, f.Internal)
	if _, err := run(ctx, script, "ip", "netns", "exec", l.ns[Router], "nft", "-f", "-"); err != nil {
		return nil, err
	}
	return &Break{l: l, name: name}, nil
}

// forwardRule finds miniupnpd's DNAT rule for proto and port, with its
// handle.
func (l *Lab) forwardRule(ctx context.Context, proto string, port uint16) (int, Forward, error) {
	var doc struct {
		Nftables []json.RawMessage `json:"nftables"`
	}
	if err := runJSON(ctx, &doc, "ip", "netns", "exec", l.ns[Router],
		"nft", "-j", "-a", "list", "chain", "inet", nftTable, nftPreroutingChain); err != nil {
		return 0, Forward{}, err
	}
	for _, item := range doc.Nftables {
		var h struct {
			Rule *struct {
				Handle int `json:"handle"`
			} `json:"rule"`
		}
		if json.Unmarshal(item, &h) != nil || h.Rule == nil {
			continue
		}
		var one nftDoc
		if err := json.Unmarshal([]byte(`{"nftables":[`+string(item)+`]}`), &one); err != nil {
			return 0, Forward{}, fmt.Errorf("netlab: parse nft rule: %w", err)
		}
		fs, err := one.forwards()
		if err != nil {
			return 0, Forward{}, err
		}
		if len(fs) == 1 && fs[0].Protocol == proto && fs[0].ExternalPort == port {
			return h.Rule.Handle, fs[0], nil
		}
	}
	return 0, Forward{}, fmt.Errorf("netlab: no forward of %s port %d in the router", proto, port)
}

// Dropped counts the packets the break has dropped so far: proof that the
// traffic reached the router and died there.
func (b *Break) Dropped(ctx context.Context) (uint64, error) {
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := runJSON(ctx, &doc, "ip", "netns", "exec", b.l.ns[Router],
		"nft", "-j", "list", "counter", "inet", breakTable, b.name); err != nil {
		return 0, err
	}
	for _, item := range doc.Nftables {
		if item.Counter != nil {
			return item.Counter.Packets, nil
		}
	}
	return 0, fmt.Errorf("netlab: no counter %q", b.name)
}

// Remove deletes the drop rule and its counter: marked traffic passes
// again. It is idempotent; closing the lab removes every break anyway.
func (b *Break) Remove(ctx context.Context) error {
	b.once.Do(func() {
		// Deleting a rule needs its handle; the rule is found by its
		// comment.
		var doc struct {
			Nftables []struct {
				Rule *struct {
					Handle  int    `json:"handle"`
					Comment string `json:"comment"`
				} `json:"rule"`
			} `json:"nftables"`
		}
		if b.err = runJSON(ctx, &doc, "ip", "netns", "exec", b.l.ns[Router],
			"nft", "-j", "-a", "list", "chain", "inet", breakTable, "forward"); b.err != nil {
			return
		}
		script := ""
		for _, item := range doc.Nftables {
			if item.Rule != nil && item.Rule.Comment == b.name {
				script += fmt.Sprintf("delete rule inet %s forward handle %d\n", breakTable, item.Rule.Handle)
			}
		}
		script += fmt.Sprintf("delete counter inet %s %s\n", breakTable, b.name)
		_, b.err = run(ctx, script, "ip", "netns", "exec", b.l.ns[Router], "nft", "-f", "-")
	})
	return b.err
}

// DropInbound drops, in the router's forward path, new inbound traffic
// from the WAN to a LAN port (proto "tcp" or "udp"; the internal port, as
// the packet is after DNAT), whatever mapping leads there: a firewall rule
// in front of the mapping that no delete and re-create can cure. Remove
// takes it away.
func (l *Lab) DropInbound(ctx context.Context, proto string, internalPort uint16) (*Break, error) {
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf("netlab: DropInbound: protocol %q, want tcp or udp", proto)
	}
	name := fmt.Sprintf("dropin_%s_%d", proto, internalPort)
	script := fmt.Sprintf(`add table inet %[1]s
add chain inet %[1]s forward { type filter hook forward priority -10; policy accept; }
add counter inet %[1]s %[2]s
add rule inet %[1]s forward iifname "%[3]s" meta l4proto %[4]s th dport %[5]d counter name %[2]s drop comment "%[2]s"
`, breakTable, name, routerWANIf, proto, internalPort)
	if _, err := run(ctx, script, "ip", "netns", "exec", l.ns[Router], "nft", "-f", "-"); err != nil {
		return nil, err
	}
	return &Break{l: l, name: name}, nil
}
