//go:build linux

package labtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestDoubleNATFoundByChecker: the router's WAN address (1.2.3.4) looks
// public, but a second NAT at the WAN host sits between it and the
// checker, which sees another public address (UPSTREAM_NAT). `add --check`
// then treats it as a double NAT: it finds the upstream router by the TTL
// probe (the WAN host, which maps nothing) and says which forward to make
// there by hand, instead of only reporting the check's verdict.
func TestDoubleNATFoundByChecker(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	if err := lab.AddUpstreamNAT(ctx, t); err != nil {
		t.Fatal(err)
	}
	ck := startCheckd(t, ctx, lab, netlab.Internet, lab.InternetAddr(), generous...)
	r := runCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "add", "21131", "--check", ck.addr.String(), "--json")
	m := decodeOne[struct {
		cliChecked
		UpstreamError string `json:"upstream_error"`
	}](t, "add --check", r.stdout)
	if r.code != 6 || m.Check == nil || m.Check.NAT != "UPSTREAM_NAT" {
		t.Fatalf("add --check behind an upstream NAT: exit %d, %+v; want exit 6 and UPSTREAM_NAT", r.code, m)
	}
	want := fmt.Sprintf("forward tcp 21131 -> %v:21131 on %v", lab.ExternalAddr(), lab.Addr(netlab.WAN))
	if !strings.Contains(m.UpstreamError, "double NAT") || !strings.Contains(m.UpstreamError, want) {
		t.Fatalf("upstream_error %q; want it to say %q", m.UpstreamError, want)
	}
}
