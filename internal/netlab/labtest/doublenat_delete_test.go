//go:build linux

package labtest

import (
	"context"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestDoubleNATCLIDelete: `upnpmap delete` of a chained mapping removes
// both legs (the CLI records the upstream leg in its state file).
func TestDoubleNATCLIDelete(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	cliDeleteBoth(t, ctx, lab, t.TempDir())
}

// cliDeleteBoth adds a chained mapping with the CLI, deletes it, and
// checks that neither router forwards anything any more.
func cliDeleteBoth(t *testing.T, ctx context.Context, lab *netlab.Lab, state string) {
	t.Helper()
	startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, 26950))
	r := mustCLI(t, ctx, lab, netlab.LAN1, state, "add", "26950", "--json")
	added := jsonLines[cliChained](t, "add --json", r.stdout)
	if len(added) != 1 || len(added[0].Legs) != 2 {
		t.Fatalf("add --json: %+v; want one mapping with two legs", added)
	}
	ext := parseAddrPort(t, "add --json external", added[0].External)
	wantReachable(t, ctx, lab, "tcp", ext, netlab.LAN1)
	mustCLI(t, ctx, lab, netlab.LAN1, state, "delete", "26950")
	wantClosed(t, ctx, lab, "tcp", ext)
	for _, c := range []struct {
		what string
		list func(context.Context) ([]netlab.Forward, error)
	}{{"home router", lab.Forwards}, {"ISP router", lab.ISPForwards}} {
		fs, err := c.list(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 0 {
			t.Errorf("%s still forwards %v after delete", c.what, fs)
		}
	}
}
