//go:build linux && labpending

package labtest

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// Built with -tags labpending until the CLI chains: `add` still prints the
// inner leg's address (10.77.0.2) and leaves the upstream leg behind.

// TestDoubleNATCLI: `upnpmap add` behind a double NAT, nothing configured:
// the built CLI chains through both routers by itself, prints the outer
// address, and the WAN host reaches the host's server there; `upnpmap
// delete` removes the mapping from both routers.
func TestDoubleNATCLI(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	buildCLI(t)
	state := t.TempDir()
	const port = 26900
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, port))

	r := mustCLI(t, ctx, lab, netlab.LAN1, state, "add", "26900", "--json")
	added := jsonLines[cliMapping](t, "add --json", r.stdout)
	if len(added) != 1 {
		t.Fatalf("add --json: %+v; want one mapping", added)
	}
	ext := parseAddrPort(t, "add --json external", added[0].External)
	if ext.Addr() != lab.ISPExternalAddr() {
		t.Fatalf("add --json: external %v; want the ISP router's address %v (chained)", ext, lab.ISPExternalAddr())
	}
	wantReachable(t, ctx, lab, "tcp", ext, netlab.LAN1)

	mustCLI(t, ctx, lab, netlab.LAN1, state, "delete", "26900")
	wantClosed(t, ctx, lab, "tcp", ext)
	for _, c := range []struct {
		what string
		list func() ([]netlab.Forward, error)
	}{
		{"home router", func() ([]netlab.Forward, error) { return lab.Forwards(ctx) }},
		{"ISP router", func() ([]netlab.Forward, error) { return lab.ISPForwards(ctx) }},
	} {
		fs, err := c.list()
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 0 {
			t.Errorf("%s still forwards %v after delete", c.what, fs)
		}
	}
}
