package main

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// chainWAN is the inner fake's private WAN address in the double NAT tests.
var chainWAN = netip.MustParseAddr("10.77.0.2")

// twoRouters starts the gateway (private WAN address) and the upstream
// router in front of it, which sees requests come from that address.
func twoRouters(t *testing.T) (inner, outer *gatewaytest.Gateway) {
	t.Helper()
	inner = gatewaytest.New(t, gatewaytest.Config{ExternalAddr: chainWAN})
	outer = gatewaytest.New(t, gatewaytest.Config{BehindNAT: chainWAN, SecureMode: true})
	return inner, outer
}

// upstreamRequests counts every request the upstream router got.
func upstreamRequests(gw *gatewaytest.Gateway) int {
	n := 0
	for _, m := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.SSDP, gatewaytest.SOAP} {
		n += gw.Requests(m)
	}
	return n
}

// TestAddChains: `add --upstream` maps on both routers: the external
// address printed is the upstream router's, the legs say who holds what,
// and the upstream router forwards to the gateway's WAN address.
func TestAddChains(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	r := e.mustRun("add", "8080", "-4", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String(), "--json")
	v := jsonLines(t, r.stdout)[0]
	want := netip.AddrPortFrom(outer.ExternalAddr(), 8080).String()
	legs, _ := v["legs"].([]any)
	if v["external"] != want || len(legs) != 2 || v["upstream_error"] != nil {
		t.Fatalf("add --json: %v; want external %s and two legs", v, want)
	}
	up, _ := legs[1].(map[string]any)
	if up["router"] != outer.Addr().String() || up["internal"] != netip.AddrPortFrom(chainWAN, 8080).String() {
		t.Fatalf("upstream leg %v", up)
	}
	ms := outer.Mappings()
	if len(ms) != 1 || ms[0].InternalAddr != chainWAN || ms[0].InternalPort != 8080 || ms[0].ExternalPort != 8080 {
		t.Fatalf("upstream table %+v", ms)
	}
	// The record `delete` uses is the gateway's leg.
	if rec, ok := e.readState().find(inner.Addr(), "tcp", 8080); !ok || rec.External.Addr() != chainWAN {
		t.Fatalf("state record %+v", rec)
	}

	// delete removes both legs: the upstream router's (recorded with the
	// mapping), then the gateway's.
	r = e.mustRun("delete", "8080", "--gateway", inner.Addr().String(), "--json")
	if lines := jsonLines(t, r.stdout); len(lines) != 2 || lines[0]["gateway"] != outer.Addr().String() || lines[1]["result"] != "deleted" {
		t.Fatalf("delete --json: %v", lines)
	}
	if n, k := len(inner.Mappings()), len(outer.Mappings()); n+k != 0 {
		t.Fatalf("after delete: gateway %+v, upstream %+v", inner.Mappings(), outer.Mappings())
	}

	r = e.mustRun("add", "8081", "-4", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String())
	for _, want := range []string{
		chainWAN.String() + ":8081",                                          // the gateway's leg
		outer.ExternalAddr().String() + ":8081", "@" + outer.Addr().String(), // the upstream router's
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("add output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stderr, "private") {
		t.Errorf("a chained mapping warned of a private address:\n%s", r.stderr)
	}
}

// TestAddNoChain: --no-chain maps on the gateway only and sends nothing to
// the upstream router; the private address is explained.
func TestAddNoChain(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	r := e.mustRun("add", "8082", "-4", "--gateway", inner.Addr().String(), "--no-chain")
	if n := upstreamRequests(outer); n != 0 {
		t.Fatalf("%d requests reached the upstream router", n)
	}
	if len(inner.Mappings()) != 1 || !strings.Contains(r.stderr, "double NAT") {
		t.Fatalf("gateway table %+v\n%s", inner.Mappings(), r)
	}
	if r := e.run("add", "8083", "--no-chain", "--upstream", outer.Addr().String(), "--gateway", inner.Addr().String()); r.code != 1 {
		t.Fatalf("--upstream with --no-chain: %s", r)
	}
}

// TestAddUpstreamSilent: the upstream router does not answer; the mapping
// on the gateway stands (exit 0) and the warning names the forward to make
// by hand.
func TestAddUpstreamSilent(t *testing.T) {
	inner, outer := twoRouters(t)
	for _, m := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.UPnP} {
		outer.SetSilent(m, true)
	}
	e := newEnv(t)
	r := e.mustRun("add", "8084", "-4", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String(), "--timeout", "300ms")
	want := "forward tcp 8084 -> " + chainWAN.String() + ":8084 on " + outer.Addr().String()
	if !strings.Contains(r.stderr, want) || len(inner.Mappings()) != 1 {
		t.Fatalf("want the gateway's mapping and %q:\n%s", want, r)
	}
}

// TestDiscoverShowsUpstream: discover probes the upstream router too and
// shows both.
func TestDiscoverShowsUpstream(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	r := e.mustRun("discover", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String(), "--json")
	d := jsonLines(t, r.stdout)[0]
	up, _ := d["upstream"].(map[string]any)
	if d["external"] != chainWAN.String() || up == nil || up["gateway"] != outer.Addr().String() || up["external"] != outer.ExternalAddr().String() {
		t.Fatalf("discover --json: %v", d)
	}
	r = e.mustRun("discover", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String())
	if !strings.Contains(r.stdout, "upstream") || !strings.Contains(r.stdout, outer.Addr().String()) {
		t.Fatalf("discover output:\n%s", r.stdout)
	}
}

// TestRunChains: run keeps a chained mapping: the mapped event carries both
// legs and the upstream router's address, the record holds the upstream
// leg, and SIGTERM deletes both legs.
func TestRunChains(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	p := e.start("run", "--map", "8086", "-4", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String(), "--json")
	o := p.waitEvent("mapped", 10*time.Second)
	legs, _ := o["legs"].([]any)
	if o["external"] != netip.AddrPortFrom(outer.ExternalAddr(), 8086).String() || len(legs) != 2 {
		t.Fatalf("mapped event %v", o)
	}
	if recs := e.readState().Mappings; len(recs) != 1 || recs[0].Upstream == nil || recs[0].Upstream.Gateway != outer.Addr() {
		t.Fatalf("state records %+v", recs)
	}
	if len(outer.Mappings()) != 1 {
		t.Fatalf("upstream table %+v", outer.Mappings())
	}
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if n, k := len(inner.Mappings()), len(outer.Mappings()); n+k != 0 {
		t.Fatalf("after SIGTERM: gateway %+v, upstream %+v", inner.Mappings(), outer.Mappings())
	}
}

// TestRunRestartAdoptsUpstream: a `run` through a double NAT killed without
// cleanup leaves both legs on their routers and in the state file; the
// next `run` takes both over: the upstream router gets the one PCP renewal
// under the saved nonce, no second mapping, and SIGTERM deletes both.
func TestRunRestartAdoptsUpstream(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	args := []string{"run", "--map", "udp:27115:27116", "--lifetime", "60s", "-4", "--gateway", inner.Addr().String(),
		"--method", "pcp", "--upstream", outer.Addr().String(), "--json"}
	first := e.start(args...)
	first.waitEvent("mapped", 10*time.Second)
	recs := e.readState().Mappings
	if len(recs) != 1 || recs[0].Upstream == nil || recs[0].Upstream.Gateway != outer.Addr() {
		t.Fatalf("state file while running: %+v, want one record with its upstream leg", recs)
	}
	saved := *recs[0].Upstream
	first.stop(syscall.SIGKILL) // no cleanup: both legs stay

	before := outer.Mappings()
	pcps := outer.Requests(gatewaytest.PCP)
	second := e.start(args...)
	second.waitEvent("mapped", 10*time.Second)
	after := outer.Mappings()
	if len(before) != 1 || len(after) != 1 || after[0].ExternalPort != saved.External.Port() || after[0].Nonce != before[0].Nonce {
		t.Fatalf("upstream table %+v after the restart, was %+v: want the one recorded leg", after, before)
	}
	if n := outer.Requests(gatewaytest.PCP) - pcps; n != 1 {
		t.Errorf("the restarted run sent the upstream router %d PCP requests, want the one renewal", n)
	}
	if recs := e.readState().Mappings; len(recs) != 1 || recs[0].Upstream == nil || recs[0].Upstream.External != saved.External {
		t.Errorf("state file after the restart: %+v", recs)
	}
	if _, code := second.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, second.stderr)
	}
	if n, k := len(inner.Mappings()), len(outer.Mappings()); n+k != 0 {
		t.Errorf("after SIGTERM: gateway %+v, upstream %+v", inner.Mappings(), outer.Mappings())
	}
}

// TestListShowsUpstreamLeg: `list` shows, beside the gateway's table, the
// upstream leg of a mapping chained through a double NAT (from the state
// file), marked with its router: METHOD "pcp @<router>" in the table, an
// "upstream" field in --json; a mapping on one router gets no such row.
func TestListShowsUpstreamLeg(t *testing.T) {
	inner, outer := twoRouters(t)
	e := newEnv(t)
	e.mustRun("add", "8090", "-4", "--gateway", inner.Addr().String(), "--upstream", outer.Addr().String(), "--upstream-method", "pcp")
	e.mustRun("add", "8091", "-4", "--gateway", inner.Addr().String(), "--no-chain")
	rows := jsonLines(t, e.mustRun("list", "--gateway", inner.Addr().String(), "--json").stdout)
	var ups []map[string]any
	for _, r := range rows {
		if r["upstream"] != nil {
			ups = append(ups, r)
		}
	}
	wantExt := netip.AddrPortFrom(outer.ExternalAddr(), 8090).String()
	wantInt := netip.AddrPortFrom(chainWAN, 8090).String()
	if len(ups) != 1 || ups[0]["upstream"] != outer.Addr().String() || ups[0]["external"] != wantExt ||
		ups[0]["internal"] != wantInt || ups[0]["method"] != "pcp" || ups[0]["ours"] != true {
		t.Fatalf("list --json upstream rows %v (all rows %v); want one for %s -> %s on %v", ups, rows, wantExt, wantInt, outer.Addr())
	}
	text := e.mustRun("list", "--gateway", inner.Addr().String()).stdout
	var upLine string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, wantExt) {
			upLine = l
		}
	}
	if !strings.Contains(upLine, "pcp @"+outer.Addr().String()) || strings.Count(text, " @") != 1 {
		t.Fatalf("list shows the upstream leg as %q; want METHOD pcp @%v, once:\n%s", upLine, outer.Addr(), text)
	}
}
