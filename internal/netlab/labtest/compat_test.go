//go:build linux

package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// Router compatibility on the real daemon (issue 19): a method that goes
// silent beside one that refuses, and a router that answers only multicast
// searches. Each router is made to misbehave with nft rules in its own
// input path, in tables of the test's own (the lab's namespaces go away with
// it); a counter in front of the drop shows that the dropped requests were
// really sent, so the test cannot pass by never taking the path.

// dropAtRouter drops, in the router's input path, the packets that match
// match (nft syntax), in a table of its own named table.
func dropAtRouter(t *testing.T, ctx context.Context, lab *netlab.Lab, table, match string) {
	t.Helper()
	script := fmt.Sprintf("add table inet %[1]s; "+
		"add chain inet %[1]s input { type filter hook input priority -200; policy accept; }; "+
		"add rule inet %[1]s input %[2]s drop", table, match)
	if out, err := lab.Exec(ctx, netlab.Router, "nft", script); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

// TestRefusalWinsOverSilentPCP: miniupnpd in its default secure mode with
// UDP 5351 dropped (a UPnP-only router as seen from the LAN): PCP and
// NAT-PMP stay silent while UPnP refuses a mapping for another host with
// 718. The definite refusal decides: the front door's error is
// ErrNotAuthorized, not a timeout, and `upnpmap add PORT HOST:PORT` exits 3
// with the secure-mode advice, not 4 "stopped answering" (issue 19 item 1).
// Nothing is opened.
func TestRefusalWinsOverSilentPCP(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	lan2 := lab.Addr(netlab.LAN2)
	const match = "udp dport 5351"
	if err := lab.CountPackets(ctx, "pcp-natpmp", match); err != nil {
		t.Fatal(err)
	}
	dropAtRouter(t, ctx, lab, "labtest_drop5351", match)

	s := startClient(t, ctx, lab, netlab.LAN1, "silent-5351", "session")
	m := s.ask(fmt.Sprintf("map other port=22100 host=%v ext=22100", lan2))
	if m.Type != "error" {
		t.Fatalf("Map for another host in secure mode: %+v; want a refusal", m)
	}
	t.Logf("Map for %v: %s (matches %v)", lan2, m.Err, m.Is)
	if !slices.Contains(m.Is, "NotAuthorized") || slices.Contains(m.Is, "Timeout") {
		t.Errorf("Map's error matches %v; want ErrNotAuthorized and not ErrTimeout (UPnP's 718 is a definite answer)", m.Is)
	}

	r := runCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "add", "22101", lanAddr(lab, netlab.LAN2, 22101))
	if r.code != 3 {
		t.Errorf("upnpmap add 22101 %v:22101: exit %d; want 3 (the router refused), not 4", lan2, r.code)
	}
	msg := strings.ToLower(r.stderr)
	for _, want := range []string{"another host", "secure mode", "--relay"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(msg, "stopped answering") {
		t.Errorf("the refusal is explained as a timeout:\n%s", r.stderr)
	}

	n, err := lab.Packets(ctx, "pcp-natpmp")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no request reached UDP 5351: PCP was never tried, so its silence was not tested")
	}
	t.Logf("%d requests to UDP 5351 dropped", n)
	for _, port := range []uint16{22100, 22101} {
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: port, Internal: netip.AddrPortFrom(lan2, port)}, false)
	}
}

// TestMulticastOnlyRouter: miniupnpd made to answer only multicast searches
// (unicast M-SEARCHes to its own address dropped, as eero's routers ignore
// them: Tailscale #3197). Named with --gateway and no --interface,
// `upnpmap add -m upnp` still finds it: the search also multicasts on the
// interface whose prefix holds the gateway (issue 19 item 3). Before that,
// only the unicast search went out and the command exited 2.
func TestMulticastOnlyRouter(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	state := t.TempDir()
	match := fmt.Sprintf("ip daddr %v udp dport 1900", lab.Gateway())
	if err := lab.CountPackets(ctx, "unicast-search", match); err != nil {
		t.Fatal(err)
	}
	dropAtRouter(t, ctx, lab, "labtest_nounicastssdp", match)

	own := lanAddr(lab, netlab.LAN1, 22110)
	startEcho(t, lab, netlab.LAN1, "tcp", own)
	gw := []string{"--gateway", lab.Gateway().String(), "-m", "upnp"}
	mustCLI(t, ctx, lab, netlab.LAN1, state, append([]string{"add", "22110"}, gw...)...)
	wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: 22110, Internal: parseAddrPort(t, "own", own)}, true)
	wantReachable(t, ctx, lab, "tcp", extAddr(lab, 22110), netlab.LAN1)

	n, err := lab.Packets(ctx, "unicast-search")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no unicast M-SEARCH reached the router: the test did not make it multicast-only")
	}
	t.Logf("%d unicast M-SEARCHes dropped", n)

	mustCLI(t, ctx, lab, netlab.LAN1, state, append([]string{"delete", "22110"}, gw...)...)
	wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: 22110, Internal: parseAddrPort(t, "own", own)}, false)
}

// TestDeleteWithoutRecord: a mapping whose state record is lost (another
// state directory here) is deleted on miniupnpd by the method that can
// without one: `delete PORT -m natpmp` sends the NAT-PMP delete of this
// host's internal port and the router's forward goes; `delete PORT -m pcp`
// cannot (a PCP delete needs the mapping's nonce), says that nothing was
// sent, and the forward stays; `list -m pcp` does not claim the router
// ignores UPnP (issue 19 item 5).
func TestDeleteWithoutRecord(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	made, lost := t.TempDir(), t.TempDir()
	lan1 := lab.Addr(netlab.LAN1)
	natpmpFw := netlab.Forward{Protocol: "tcp", ExternalPort: 22120, Internal: netip.AddrPortFrom(lan1, 22120)}
	pcpFw := netlab.Forward{Protocol: "tcp", ExternalPort: 22121, Internal: netip.AddrPortFrom(lan1, 22121)}
	mustCLI(t, ctx, lab, netlab.LAN1, made, "add", "22120", "--tcp", "-m", "natpmp")
	mustCLI(t, ctx, lab, netlab.LAN1, made, "add", "22121", "--tcp", "-m", "pcp")
	wantForward(t, ctx, lab, natpmpFw, true)
	wantForward(t, ctx, lab, pcpFw, true)

	r := mustCLI(t, ctx, lab, netlab.LAN1, lost, "delete", "22120", "--tcp", "-m", "natpmp", "--timeout", "2s")
	if !strings.Contains(r.stderr, "no record of port 22120") {
		t.Errorf("the missing record is not said:\n%s", r.stderr)
	}
	wantForward(t, ctx, lab, natpmpFw, false)

	r = runCLI(t, ctx, lab, netlab.LAN1, lost, "delete", "22121", "--tcp", "-m", "pcp", "--timeout", "2s")
	if r.code != 1 || !strings.Contains(r.stderr, "nothing was sent") || strings.Contains(r.stderr, "below 1024") {
		t.Errorf("delete -m pcp without a record: exit %d; want 1 and \"nothing was sent\":\n%s", r.code, r.stderr)
	}
	wantForward(t, ctx, lab, pcpFw, true)

	r = mustCLI(t, ctx, lab, netlab.LAN1, lost, "list", "-m", "pcp")
	if strings.Contains(r.stderr, "does not answer UPnP") {
		t.Errorf("list -m pcp says the router does not answer UPnP, which it does:\n%s", r.stderr)
	}

	mustCLI(t, ctx, lab, netlab.LAN1, made, "delete", "22121")
	wantForward(t, ctx, lab, pcpFw, false)
}
