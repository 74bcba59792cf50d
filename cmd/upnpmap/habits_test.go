package main

import (
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestGlobalFlagsBeforeCommand: the common flags work before the command as
// after it (issue 18 item 7).
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	r := e.mustRun("-v", "version")
	if !strings.HasPrefix(r.stdout, "upnpmap ") || !strings.Contains(r.stdout, "github.com/spf13/pflag") {
		t.Errorf("-v version: %s", r)
	}
	r = e.mustRun("--json", "-g", gw.Addr().String(), "--timeout=2s", "ip")
	if l := jsonLines(t, r.stdout); len(l) != 1 || l[0]["external"] != "203.0.113.7" {
		t.Errorf("flags before ip: %s", r)
	}
	if r := e.run("--lifetime", "1h", "add", "8080"); r.code != exitUsage || !strings.Contains(r.stderr, "unknown flag --lifetime before the command") {
		t.Errorf("a command's own flag before it: %s", r)
	}
}

// TestDidYouMean: a mistyped command or flag gets a suggestion.
func TestDidYouMean(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dicsover"}, `did you mean "discover"?`},
		{[]string{"delte", "80"}, `did you mean "delete"?`},
		{[]string{"add", "80", "--lifetme", "1h"}, "did you mean --lifetime?"},
		{[]string{"discover", "--gatway", "10.0.0.1"}, "did you mean --gateway?"},
		{[]string{"--gatway", "10.0.0.1", "ip"}, "did you mean --gateway?"},
		{[]string{"add", "80", "-i"}, "not upnpc's -i"},
	} {
		r := e.run(tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("upnpmap %s: want %q: %s", strings.Join(tt.args, " "), tt.want, r)
		}
	}
}

// TestUnknownInterface: an --interface this machine does not have is an
// error, not a search on nothing (issue 18 item 6).
func TestUnknownInterface(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	r := newEnv(t).run("add", "8080", "--interface", "bogus0", "--gateway", gw.Addr().String())
	if r.code != exitUsage || !strings.Contains(r.stderr, `--interface "bogus0": no such network interface`) ||
		!strings.Contains(r.stderr, "lo") {
		t.Errorf("%s", r)
	}
	if n := gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP) + gw.Requests(gatewaytest.UPnP); n != 0 {
		t.Errorf("%d requests sent for a bad command line", n)
	}
}

// TestDescriptionWarning: --description cannot travel in PCP or NAT-PMP; the
// user is told so, not silently dropped (issue 18 item 6). UPnP sends it.
func TestDescriptionWarning(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	e := newEnv(t)
	r := e.mustRun(append([]string{"add", "8080", "--description", "web"}, g...)...)
	if !strings.Contains(r.stderr, `--description "web" is not sent: pcp`) {
		t.Errorf("no warning under PCP: %s", r)
	}
	r = e.mustRun(append([]string{"add", "8081"}, g...)...)
	if strings.Contains(r.stderr, "--description") {
		t.Errorf("warning without --description: %s", r)
	}
	r = e.mustRun(append([]string{"add", "8082", "--description", "web", "-m", "upnp"}, g...)...)
	if strings.Contains(r.stderr, "--description") {
		t.Errorf("warning under UPnP: %s", r)
	}
	if m, _ := fakeEntry(gw, "tcp", 8082); m.Description != "web" {
		t.Errorf("UPnP description = %q", m.Description)
	}
}

// TestIPOnPCPOnlyRouter: a router that speaks only PCP has no
// external-address request; ip learns the address the way add does and
// leaves no mapping behind (issue 18 item 5).
func TestIPOnPCPOnlyRouter(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisableNATPMP: true, DisableUPnP: true})
	r := newEnv(t).mustRun("ip", "--json", "--gateway", gw.Addr().String())
	l := jsonLines(t, r.stdout)
	if len(l) != 1 || l[0]["external"] != "203.0.113.7" || l[0]["method"] != "pcp" {
		t.Errorf("%s", r)
	}
	// One key for the double-NAT flag across commands; the old one stays.
	if l[0]["external_private"] != false || l[0]["private"] != false {
		t.Errorf("keys: %v", l[0])
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("ip left mappings: %+v", m)
	}
}

// TestListMethodsAndNoUPnPWarning: entries miniupnpd made for NAT-PMP and
// PCP are listed with those methods, not upnp; `list -m pcp` does not warn
// that the router does not answer UPnP (issue 18 item 7, issue 19 item 5).
func TestListMethodsAndNoUPnPWarning(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.NATPMP, Protocol: "UDP", ExternalPort: 5000, Description: "NAT-PMP 5000 udp"})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.PCP, Protocol: "TCP", ExternalPort: 6000, Description: "PCP MAP 0102030405060708090a0b0c"})
	e := newEnv(t)
	got := map[string]any{}
	for _, o := range jsonLines(t, e.mustRun(append([]string{"list", "--json"}, g...)...).stdout) {
		got[o["external"].(string)] = o["method"]
	}
	if got["203.0.113.7:5000"] != "natpmp" || got["203.0.113.7:6000"] != "pcp" {
		t.Errorf("methods = %v", got)
	}
	r := e.mustRun(append([]string{"list", "-m", "pcp"}, g...)...)
	if strings.Contains(r.stderr, "does not answer UPnP") || !strings.Contains(r.stderr, "pcp cannot read a router's table") {
		t.Errorf("list -m pcp: %s", r)
	}
}

// TestProgressLine: a wait over a second shows a progress line on stderr
// with -v, never under --json.
func TestProgressLine(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetDelay(gatewaytest.NATPMP, 1500*time.Millisecond)
	e := newEnv(t)
	r := e.mustRun("ip", "-m", "natpmp", "-v", "--timeout", "10s", "--gateway", gw.Addr().String())
	if !strings.Contains(r.stderr, "waiting for the router's external address… 1s") {
		t.Errorf("no progress line: %s", r)
	}
	r = e.mustRun("ip", "-m", "natpmp", "-v", "--json", "--timeout", "10s", "--gateway", gw.Addr().String())
	if strings.Contains(r.stderr, "waiting for") || strings.Contains(r.stdout, "waiting for") {
		t.Errorf("progress line under --json: %s", r)
	}
}

// TestVerboseShowsExchanges: -v logs each NAT-PMP and PCP request and reply
// with the time since start.
func TestVerboseShowsExchanges(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	r := newEnv(t).mustRun("add", "8080", "-v", "--gateway", gw.Addr().String())
	for _, want := range []string{"pcp: request", "pcp: reply", "op=MAP", "result=SUCCESS", "t=+"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestLifetimeWarning: a lease the router shortened or lengthened (PCP
// servers clamp it; gatewaytest, like miniupnpd, to at least 120 s) is
// reported, not silently taken.
func TestLifetimeWarning(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	r := e.mustRun("add", "8080", "--lifetime", "30s", "--gateway", gw.Addr().String())
	if !strings.Contains(r.stderr, "a lease of 2m0s, not the 30s --lifetime asked for") {
		t.Errorf("%s", r)
	}
	r = e.mustRun("add", "8081", "--lifetime", "1h", "--gateway", gw.Addr().String())
	if strings.Contains(r.stderr, "lease of") {
		t.Errorf("warning for a lease granted as asked: %s", r)
	}
}
