package gatewaytest

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzFirewallAction runs the firewall actions on arbitrary arguments, given
// as "name=value" lines, from a caller of either family: every answer must
// be a success or one of the service's codes, a granted UniqueID must be
// non-zero and listed, and the pinholes must stay within MaxPinholes.
func FuzzFirewallAction(f *testing.F) {
	const maxPinholes = 8
	now := time.Unix(1e9, 0) // a fixed clock: pinholes stay until deleted
	g := fuzzGateway(Config{MaxPinholes: maxPinholes, PinholeStrict: true, Now: func() time.Time { return now }})
	// Strict, so that both the policy's 606 and its successes (from ::1 for
	// the default IPv6Host) are reachable.
	allowed := map[int]bool{401: true, 402: true, 606: true, 701: true, 702: true, 703: true,
		704: true, 705: true, 706: true, 707: true, 708: true, 709: true}
	f.Fuzz(func(t *testing.T, action uint8, args string, v4 bool) {
		name := firewallActions[int(action)%len(firewallActions)]
		c := &call{args: map[string]string{}, caller: netip.IPv6Loopback(), now: now}
		if v4 {
			c.caller = netip.MustParseAddr("127.0.0.1")
		}
		for line := range strings.SplitSeq(args, "\n") {
			k, v, _ := strings.Cut(line, "=")
			c.args[k] = v
		}
		g.mu.Lock()
		out, code := g.runFirewall(c, name)
		g.mu.Unlock()
		if code != 0 && !allowed[code] {
			t.Fatalf("%s(%q): code %d", name, args, code)
		}
		if code == 0 && name == "AddPinhole" {
			id, err := strconv.Atoi(out[0].value)
			if err != nil || id == 0 {
				t.Fatalf("AddPinhole(%q): UniqueID %q", args, out[0].value)
			}
		}
		if n := len(g.Pinholes()); n > maxPinholes {
			t.Fatalf("%d pinholes, MaxPinholes %d", n, maxPinholes)
		}
	})
}
