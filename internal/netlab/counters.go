//go:build linux

package netlab

import (
	"context"
	"fmt"
	"strings"
)

// countTable is the nft table that holds the lab's packet counters, apart
// from miniupnpd's table so that a flush or a restart of the router leaves
// them alone.
const countTable = "netlab_count"

// CountPackets adds a counter named name for packets that reach the router
// itself (its input path, before anything else sees them) and match match,
// written in nft syntax (e.g. "udp dport 5351 @th,96,16 22"). Packets reads
// it. It is how a test counts the requests a client really sent, without
// trusting the client's own account.
func (l *Lab) CountPackets(ctx context.Context, name, match string) error {
	if strings.ContainsAny(name+match, ";\n{}") {
		return fmt.Errorf("netlab: CountPackets: name %q or match %q is not a single nft expression", name, match)
	}
	script := fmt.Sprintf(`add table inet %[1]s
add chain inet %[1]s input { type filter hook input priority -300; policy accept; }
add counter inet %[1]s %[2]s
add rule inet %[1]s input %[3]s counter name %[2]s
`, countTable, name, match)
	_, err := run(ctx, script, "ip", "netns", "exec", l.ns[Router], "nft", "-f", "-")
	return err
}

// Packets reads the counter CountPackets made.
func (l *Lab) Packets(ctx context.Context, name string) (uint64, error) {
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := runJSON(ctx, &doc, "ip", "netns", "exec", l.ns[Router],
		"nft", "-j", "list", "counter", "inet", countTable, name); err != nil {
		return 0, err
	}
	for _, item := range doc.Nftables {
		if item.Counter != nil {
			return item.Counter.Packets, nil
		}
	}
	return 0, fmt.Errorf("netlab: no counter %q", name)
}
