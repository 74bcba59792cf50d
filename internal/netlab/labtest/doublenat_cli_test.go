//go:build linux

package labtest

import (
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// cliChained is a line of `add --json` with the legs of a chained mapping.
type cliChained struct {
	cliMapping
	Legs []struct {
		Router   string `json:"router"`
		Method   string `json:"method"`
		External string `json:"external"`
		Internal string `json:"internal"`
	} `json:"legs"`
}

// cliDiscover is `discover --json`, with the upstream router.
type cliDiscover struct {
	Gateway         string       `json:"gateway"`
	Methods         []string     `json:"methods"`
	External        string       `json:"external"`
	ExternalPrivate bool         `json:"external_private"`
	Upstream        *cliDiscover `json:"upstream"`
	UpstreamError   string       `json:"upstream_error"`
}

// TestDoubleNATCLI: the built CLI behind a double NAT, nothing configured.
// `discover` shows both routers and their methods; `add` chains through
// both routers by itself, prints the outer address and both legs, and the
// WAN host reaches the host's server there; `add --no-chain` maps on the
// home router alone; with the ISP router's daemon dead, `add` still maps
// the inner leg and says which forward to make by hand.
func TestDoubleNATCLI(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	buildCLI(t)
	state := t.TempDir()
	lan1 := netlab.LAN1
	inner, outer := lab.ExternalAddr().String(), lab.ISPExternalAddr().String()

	r := mustCLI(t, ctx, lab, lan1, state, "discover", "--json")
	d := jsonLines[cliDiscover](t, "discover --json", r.stdout)
	if len(d) != 1 || d[0].Gateway != lab.Gateway().String() || d[0].External != inner || !d[0].ExternalPrivate {
		t.Fatalf("discover --json: %+v; want gateway %v, external %s (private)", d, lab.Gateway(), inner)
	}
	if u := d[0].Upstream; u == nil || u.Gateway != lab.ISPGateway().String() || u.External != outer ||
		strings.Join(u.Methods, ",") != "pcp,natpmp,upnp" {
		t.Fatalf("discover --json: upstream %+v (error %q); want %v with pcp, natpmp, upnp and external %s", u, d[0].UpstreamError, lab.ISPGateway(), outer)
	}
	r = mustCLI(t, ctx, lab, lan1, state, "discover")
	wantOutput(t, "discover", r.stdout, lab.ISPGateway().String(), outer)

	startEcho(t, lab, lan1, "tcp", lanAddr(lab, lan1, 26900))
	start := time.Now()
	r = mustCLI(t, ctx, lab, lan1, state, "add", "26900", "--json")
	t.Logf("upnpmap add, chained through both routers: %v (the whole command)", time.Since(start).Round(time.Millisecond))
	added := jsonLines[cliChained](t, "add --json", r.stdout)
	if len(added) != 1 || len(added[0].Legs) != 2 {
		t.Fatalf("add --json: %+v; want one mapping with two legs", added)
	}
	a := added[0]
	ext := parseAddrPort(t, "add --json external", a.External)
	e1 := parseAddrPort(t, "add --json inner leg", a.Legs[0].External)
	if ext.Addr() != lab.ISPExternalAddr() || a.Legs[1].External != a.External || a.Legs[1].Router != lab.ISPGateway().String() ||
		a.Legs[1].Internal != e1.String() || e1.Addr() != lab.ExternalAddr() || a.Legs[0].Internal != lanAddr(lab, lan1, 26900) {
		t.Fatalf("add --json: %+v; want %s:* -> %s:* -> %s", a, outer, inner, lanAddr(lab, lan1, 26900))
	}
	wantReachable(t, ctx, lab, "tcp", ext, lan1)
	r = mustCLI(t, ctx, lab, lan1, state, "add", "26901", "--json", "--no-chain")
	added = jsonLines[cliChained](t, "add --no-chain --json", r.stdout)
	if len(added) != 1 || len(added[0].Legs) > 1 || !strings.HasPrefix(added[0].External, inner+":") {
		t.Fatalf("add --no-chain --json: %+v; want one leg on the home router (%s)", added, inner)
	}

	// The upstream router goes silent: the inner leg is made, and the CLI
	// names the forward to make by hand.
	if err := lab.KillISPRouter(); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, ctx, lab, lan1, state, "add", "26902")
	wantOutput(t, "add, upstream silent", r.stdout+r.stderr, lab.ISPGateway().String(), inner+":26902")
	if fs, err := lab.Forwards(ctx); err != nil || !strings.Contains(fmtForwards(fs), "26902 -> "+lanAddr(lab, lan1, 26902)) {
		t.Fatalf("home router forwards %v (%v): want 26902 -> %s", fs, err, lanAddr(lab, lan1, 26902))
	}
}

func fmtForwards(fs []netlab.Forward) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}
