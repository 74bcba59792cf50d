package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// pinholeArgs point the CLI at a fake's IPv6 side over UPnP, with the
// fake's IPv6Host as this host's address (::1 stands for it).
func pinholeArgs(gw *gatewaytest.Gateway) []string {
	return []string{"--gateway", gw.Addr().String(), "--method", "upnp",
		"--location6", gw.LocationURL6(), "--host6", gatewaytest.DefaultIPv6Host.String()}
}

func ipv4Count(gw *gatewaytest.Gateway) int {
	n := 0
	for _, m := range gw.Mappings() {
		if m.InternalAddr.Is4() {
			n++
		}
	}
	return n
}

// add opens both families by default; --json carries the pinhole; list
// shows it as ours; delete removes both.
func TestAddListDeletePinhole(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	e := newEnv(t)
	args := pinholeArgs(gw)

	objs := jsonLines(t, e.mustRun(append([]string{"add", "8080", "--json"}, args...)...).stdout)
	if len(objs) != 1 {
		t.Fatalf("add --json: %d objects", len(objs))
	}
	ph, _ := objs[0]["pinhole"].(map[string]any)
	want := "[" + gatewaytest.DefaultIPv6Host.String() + "]:8080"
	if ph == nil || ph["family"] != "ipv6" || ph["external"] != want || ph["method"] != "upnp" {
		t.Fatalf("add --json = %v; want a pinhole for %s", objs[0], want)
	}
	if ps := gw.Pinholes(); len(ps) != 1 || ipv4Count(gw) != 1 {
		t.Fatalf("gateway holds %d IPv4 mappings and pinholes %+v", ipv4Count(gw), ps)
	}

	found := false
	for _, o := range jsonLines(t, e.mustRun(append([]string{"list", "--json"}, args[:4]...)...).stdout) {
		if o["family"] == "ipv6" && o["external"] == want && o["ours"] == true {
			found = true
		}
	}
	if !found {
		t.Error("list --json does not show our pinhole")
	}

	r := e.mustRun(append([]string{"delete", "8080"}, args...)...)
	if n := strings.Count(r.stdout, "deleted"); n != 2 {
		t.Errorf("delete printed %d deletions, want 2 (IPv4 and IPv6):\n%s", n, r.stdout)
	}
	if n, k := len(gw.Pinholes()), ipv4Count(gw); n != 0 || k != 0 {
		t.Errorf("after delete: %d pinholes, %d IPv4 mappings", n, k)
	}
}

func TestAddFamilyFlags(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	e := newEnv(t)
	args := pinholeArgs(gw)

	o := jsonLines(t, e.mustRun(append([]string{"add", "8081", "-4", "--json"}, args...)...).stdout)[0]
	if o["pinhole"] != nil || len(gw.Pinholes()) != 0 || ipv4Count(gw) != 1 {
		t.Errorf("-4: %v; gateway pinholes %v", o, gw.Pinholes())
	}
	o = jsonLines(t, e.mustRun(append([]string{"add", "8082", "-6", "--json"}, args...)...).stdout)[0]
	if o["family"] != "ipv6" || len(gw.Pinholes()) != 1 || ipv4Count(gw) != 1 {
		t.Errorf("-6: %v; %d pinholes, %d IPv4 mappings", o, len(gw.Pinholes()), ipv4Count(gw))
	}
	if r := e.run(append([]string{"add", "8083", "-4", "-6"}, args...)...); r.code == 0 || !strings.Contains(r.stderr, "--ipv4 and --ipv6") {
		t.Errorf("-4 -6: %s", r)
	}
}

// A router that does not allow pinholes: add succeeds with IPv4 and says
// why there is no pinhole.
func TestAddPinholeRefused(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true, InboundPinholesDisallowed: true})
	r := newEnv(t).mustRun(append([]string{"add", "8084"}, pinholeArgs(gw)...)...)
	if !strings.Contains(r.stderr, "no IPv6 pinhole") || ipv4Count(gw) != 1 {
		t.Errorf("partial success not reported:\n%s", r)
	}
}

// run keeps the pinhole beside the mapping: both are shown, recorded while
// running, renewed, and deleted on SIGTERM.
func TestRunPinhole(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	e := newEnv(t)
	p := e.start(append([]string{"run", "--map", "8085", "--lifetime", "2s", "--json"}, pinholeArgs(gw)...)...)
	families := map[string]bool{}
	for len(families) < 2 {
		o := p.waitEvent("mapped", 10*time.Second)
		f, _ := o["family"].(string)
		families[f] = true
	}
	if n := len(e.readState().Mappings); n != 2 {
		t.Errorf("state file holds %d records while running, want 2", n)
	}
	if len(gw.Pinholes()) != 1 || ipv4Count(gw) != 1 {
		t.Fatalf("router: pinholes %+v, %d IPv4 mappings", gw.Pinholes(), ipv4Count(gw))
	}
	before := gw.Requests("AddPinhole")
	for gw.Requests("AddPinhole") == before {
		p.waitEvent("renewed", 5*time.Second)
	}
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, p.stderr)
	}
	if n, k := len(gw.Pinholes()), ipv4Count(gw); n != 0 || k != 0 {
		t.Errorf("after SIGTERM: %d pinholes, %d IPv4 mappings", n, k)
	}
	if n := len(e.readState().Mappings); n != 0 {
		t.Errorf("state file holds %d records after the run", n)
	}
}

// TestDeleteAfterIPv6Only: a port opened with -6 alone has no IPv4 record;
// delete removes the pinhole and goes looking for no IPv4 mapping (no "no
// record" warning, no request that could remove another host's mapping of
// that port).
func TestDeleteAfterIPv6Only(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	e := newEnv(t)
	args := pinholeArgs(gw)
	e.mustRun(append([]string{"add", "8084", "-6"}, args...)...)
	if len(gw.Pinholes()) != 1 {
		t.Fatalf("after add -6: %d pinholes", len(gw.Pinholes()))
	}
	natpmpBefore, delBefore := gw.Requests(gatewaytest.NATPMP), gw.Requests("DeletePortMapping")
	r := e.mustRun(append([]string{"delete", "8084"}, args...)...)
	if strings.Contains(r.stderr, "no record") {
		t.Errorf("delete after add -6 looked for an IPv4 mapping:\n%s", r.stderr)
	}
	if n := len(gw.Pinholes()); n != 0 {
		t.Errorf("after delete: %d pinholes", n)
	}
	if n := gw.Requests(gatewaytest.NATPMP) - natpmpBefore; n != 0 {
		t.Errorf("delete sent %d NAT-PMP requests for a port with no IPv4 mapping", n)
	}
	if n := gw.Requests("DeletePortMapping") - delBefore; n != 0 {
		t.Errorf("delete sent %d DeletePortMapping for a port with no IPv4 mapping", n)
	}
}

// run -4 keeps the IPv4 mapping alone and run -6 the pinhole alone, each
// removed on SIGTERM.
func TestRunFamilyFlags(t *testing.T) {
	for _, tc := range []struct {
		flag                string
		pinholes, mappings4 int
	}{
		{"-4", 0, 1},
		{"-6", 1, 0},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
			e := newEnv(t)
			p := e.start(append([]string{"run", "--map", "8087", tc.flag, "--json"}, pinholeArgs(gw)...)...)
			o := p.waitEvent("mapped", 10*time.Second)
			if f, _ := o["family"].(string); (f == "ipv6") != (tc.flag == "-6") || o["pinhole"] != nil {
				t.Errorf("run %s: mapped %v", tc.flag, o)
			}
			if n, k := len(gw.Pinholes()), ipv4Count(gw); n != tc.pinholes || k != tc.mappings4 {
				t.Errorf("run %s: router has %d pinholes and %d IPv4 mappings, want %d and %d", tc.flag, n, k, tc.pinholes, tc.mappings4)
			}
			if _, code := p.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d; stderr:\n%s", code, p.stderr)
			}
			if n, k := len(gw.Pinholes()), ipv4Count(gw); n != 0 || k != 0 {
				t.Errorf("after SIGTERM: %d pinholes, %d IPv4 mappings", n, k)
			}
		})
	}
}
