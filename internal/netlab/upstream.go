//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Internet is the node AddUpstreamNAT adds: a host beyond the WAN host, at
// InternetAddr, that sees the router only through the WAN host's NAT.
const Internet Node = "inet"

// The link AddUpstreamNAT builds between the WAN host and the Internet node.
// Public-looking, like the WAN link, and as sealed.
var (
	upstreamNet  = netip.MustParsePrefix("5.6.7.0/24")
	upstreamWAN  = netip.MustParseAddr("5.6.7.1") // the WAN host's side; what the Internet sees
	internetHost = netip.MustParseAddr("5.6.7.8")
)

// upstreamIf is the WAN host's interface towards the Internet node.
const upstreamIf = "up0"

// upstreamTable is the WAN host's nft table for the upstream NAT.
const upstreamTable = "netlab_upnat"

// AddUpstreamNAT puts a second NAT between the router and part of the
// Internet, as an ISP's carrier-grade NAT does: a new namespace, the node
// Internet (InternetAddr), hangs off the WAN host, which routes to it and
// masquerades everything it forwards there. A server in the Internet node
// sees the router's traffic come from the WAN host's upstream address
// (UpstreamNATAddr), not from the router's external address, and cannot
// reach the router's mappings. The rest of the lab is unchanged.
//
// Call it once, right after New and before the lab is used from other
// goroutines. The namespace is deleted (processes in it killed) at the end
// of t, before the lab's own Close.
func (l *Lab) AddUpstreamNAT(ctx context.Context, t testing.TB) error {
	t.Helper()
	if _, ok := l.ns[Internet]; ok {
		return errors.New("netlab: AddUpstreamNAT: added already")
	}
	name := l.prefix + string(Internet)
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := ipBatch(ctx, "", "netns add "+name); err != nil {
		return err
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), upstreamTeardown)
		defer dcancel()
		if err := deleteNetns(dctx, name); err != nil {
			t.Errorf("netlab: delete %s: %v", name, err)
		}
	})
	ino, err := nsInode(name)
	if err != nil {
		return err
	}
	registerNetns(name, ino)
	l.ns[Internet] = name

	bits := upstreamNet.Bits()
	if err := ipBatch(ctx, l.ns[WAN],
		fmt.Sprintf("link add %s type veth peer name %s netns %s", upstreamIf, hostIf, name),
		fmt.Sprintf("address add %s dev %s", netip.PrefixFrom(upstreamWAN, bits), upstreamIf),
		fmt.Sprintf("link set %s up", upstreamIf),
	); err != nil {
		return err
	}
	if err := ipBatch(ctx, name,
		"link set lo up",
		fmt.Sprintf("address add %s dev %s", netip.PrefixFrom(internetHost, bits), hostIf),
		fmt.Sprintf("link set %s up", hostIf),
		fmt.Sprintf("route add default via %s", upstreamWAN),
	); err != nil {
		return err
	}
	if _, err := run(ctx, "", "ip", "netns", "exec", l.ns[WAN], "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	script := fmt.Sprintf(`add table ip %[1]s
add chain ip %[1]s postrouting { type nat hook postrouting priority srcnat; policy accept; }
add rule ip %[1]s postrouting oifname "%[2]s" masquerade
`, upstreamTable, upstreamIf)
	if _, err := run(ctx, script, "ip", "netns", "exec", l.ns[WAN], "nft", "-f", "-"); err != nil {
		return err
	}
	// The new link must lead to a lab namespace like every other.
	return l.verifyIsolatedNode(ctx, name)
}

// upstreamTeardown bounds the deletion of the Internet node.
const upstreamTeardown = 10 * time.Second

// InternetAddr is the Internet node's address (after AddUpstreamNAT).
func (l *Lab) InternetAddr() netip.Addr { return internetHost }

// UpstreamNATAddr is the address the Internet node sees the router's
// traffic come from: the WAN host's, after its masquerade.
func (l *Lab) UpstreamNATAddr() netip.Addr { return upstreamWAN }

// verifyIsolatedNode checks one extra namespace as verifyIsolated checks
// the lab's: nothing but the loopback and veths into lab namespaces.
func (l *Lab) verifyIsolatedNode(ctx context.Context, ns string) error {
	ours := map[string]bool{}
	for _, name := range l.ns {
		ours[name] = true
	}
	var links []ipLink
	if err := runJSON(ctx, &links, "ip", "-n", ns, "-j", "-d", "link", "show"); err != nil {
		return err
	}
	ids, err := netnsIDs(ctx, ns)
	if err != nil {
		return err
	}
	for _, lk := range links {
		kind := ""
		if lk.Info != nil {
			kind = lk.Info.Kind
		}
		switch {
		case lk.Name == "lo" && kind == "":
		case kind == "veth" && lk.LinkNetns != nil && ours[ids[*lk.LinkNetns]]:
		default:
			return fmt.Errorf("netlab: not isolated: interface %s (kind %q) in %s", lk.Name, kind, ns)
		}
	}
	return nil
}
