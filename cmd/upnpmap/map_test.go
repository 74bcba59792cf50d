package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

func TestDiscover(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	addr := gw.Addr().String()

	objs := jsonLines(t, e.mustRun("discover", "--gateway", addr, "--json").stdout)
	if len(objs) != 1 {
		t.Fatalf("discover --json: %d objects, want 1", len(objs))
	}
	d := objs[0]
	if d["gateway"] != addr || d["external"] != "203.0.113.7" || d["external_private"] != false {
		t.Errorf("discover --json = %v", d)
	}
	methods, _ := d["methods"].([]any)
	if len(methods) != 3 || methods[0] != "pcp" || methods[1] != "natpmp" || methods[2] != "upnp" {
		t.Errorf("methods = %v, want [pcp natpmp upnp] (best first)", d["methods"])
	}
	if d["location"] != gw.LocationURL() {
		t.Errorf("location = %v, want %s", d["location"], gw.LocationURL())
	}

	r := e.mustRun("discover", "--gateway", addr)
	for _, want := range []string{"gateway   " + addr, "methods   pcp, natpmp, upnp", "external  203.0.113.7", "took"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("discover output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The description URL is cached for the next run's warm start.
	if loc := e.readState().location(addr); loc != gw.LocationURL() {
		t.Errorf("cached location = %q, want %q", loc, gw.LocationURL())
	}
}

// TestDiscoverWarmStart: with the description URL cached, the next run skips
// the SSDP search; when the cache is stale (the router rebooted and its HTTP
// port moved) it searches again and refreshes the cache.
func TestDiscoverWarmStart(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	addr := gw.Addr().String()
	e.mustRun("discover", "--gateway", addr, "--method", "upnp")
	searches := gw.Requests(gatewaytest.SSDP)
	if searches == 0 {
		t.Fatal("the cold start sent no SSDP search")
	}
	r := e.mustRun("discover", "--gateway", addr, "--method", "upnp", "--json")
	if n := gw.Requests(gatewaytest.SSDP); n != searches {
		t.Errorf("warm start sent %d SSDP searches; want none (the cached description URL)", n-searches)
	}
	if d := jsonLines(t, r.stdout)[0]; d["location"] != gw.LocationURL() {
		t.Errorf("warm start location = %v", d["location"])
	}

	old := gw.LocationURL()
	gw.Reboot()
	if gw.LocationURL() == old {
		t.Fatal("Reboot did not move the description URL; the test needs it to")
	}
	r = e.mustRun("discover", "--gateway", addr, "--method", "upnp", "--json")
	if d := jsonLines(t, r.stdout)[0]; d["location"] != gw.LocationURL() {
		t.Errorf("after reboot: location = %v, want the new %s", d["location"], gw.LocationURL())
	}
	if loc := e.readState().location(addr); loc != gw.LocationURL() {
		t.Errorf("after reboot: cached location = %q, want the new %q", loc, gw.LocationURL())
	}
}

func TestIP(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	r := e.mustRun("ip", "--gateway", gw.Addr().String())
	if r.stdout != "203.0.113.7\n" || r.stderr != "" {
		t.Errorf("ip: %s", r)
	}
	j := jsonLines(t, e.mustRun("ip", "--gateway", gw.Addr().String(), "--json").stdout)
	if len(j) != 1 || j[0]["external"] != "203.0.113.7" || j[0]["private"] != false {
		t.Errorf("ip --json: %v", j)
	}
}

// TestIPDoubleNAT: a CGNAT external address is printed (scripts still get
// it) with a warning that says what it means.
func TestIPDoubleNAT(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{ExternalAddr: netip.MustParseAddr("100.64.12.34")})
	e := newEnv(t)
	r := e.mustRun("ip", "--gateway", gw.Addr().String())
	if r.stdout != "100.64.12.34\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	for _, want := range []string{"private", "double NAT", "not reachable from the Internet"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, r.stderr)
		}
	}
	r = e.mustRun("add", "8080", "--gateway", gw.Addr().String())
	if !strings.Contains(r.stderr, "double NAT") {
		t.Errorf("add behind double NAT does not warn: %s", r)
	}
	if r := e.mustRun("discover", "--gateway", gw.Addr().String(), "--json"); jsonLines(t, r.stdout)[0]["external_private"] != true {
		t.Errorf("discover --json does not flag the private address: %s", r.stdout)
	}
}

// fakeEntry finds the fake router's entry for proto/port.
func fakeEntry(gw *gatewaytest.Gateway, proto string, port uint16) (gatewaytest.Mapping, bool) {
	for _, m := range gw.Mappings() {
		if strings.EqualFold(m.Protocol, proto) && m.ExternalPort == port {
			return m, true
		}
	}
	return gatewaytest.Mapping{}, false
}

// TestAddListDelete walks the one-shot commands with each method: add leaves
// the mapping on the router after the process exits, list shows it, delete
// removes it (PCP with the nonce from the state file).
func TestAddListDelete(t *testing.T) {
	for _, method := range []string{"pcp", "natpmp", "upnp"} {
		t.Run(method, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{})
			e := newEnv(t)
			g := []string{"--gateway", gw.Addr().String(), "--method", method}

			start := time.Now()
			r := e.mustRun(append([]string{"add", "8080", "9090", "--lifetime", "1h", "--description", "test app", "--json"}, g...)...)
			objs := jsonLines(t, r.stdout)
			if len(objs) != 1 {
				t.Fatalf("add --json printed %d objects:\n%s", len(objs), r.stdout)
			}
			a := objs[0]
			if a["method"] != method || a["protocol"] != "tcp" || a["external"] != "203.0.113.7:8080" ||
				!strings.HasSuffix(a["internal"].(string), ":9090") || a["gateway"] != gw.Addr().String() {
				t.Errorf("add --json = %v", a)
			}
			exp, err := time.Parse(time.RFC3339, a["expires"].(string))
			if err != nil || exp.Before(start.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
				t.Errorf("expires = %v (%v), want about an hour from now", a["expires"], err)
			}
			// The process has exited; the mapping stays on the router.
			m, ok := fakeEntry(gw, "tcp", 8080)
			if !ok || m.InternalPort != 9090 || m.Method != method {
				t.Fatalf("router table after add: %+v", gw.Mappings())
			}
			rec, ok := e.readState().find(gw.Addr(), "tcp", 8080)
			if !ok || rec.Method != method || (method == "pcp") != (rec.Nonce != "") {
				t.Errorf("state record = %+v, %v", rec, ok)
			}

			l := jsonLines(t, e.mustRun(append([]string{"list", "--json"}, g...)...).stdout)
			found := false
			for _, o := range l {
				if strings.HasSuffix(o["external"].(string), ":8080") && o["protocol"] == "tcp" {
					found = true
					if o["ours"] != true || o["method"] != method || !strings.HasSuffix(o["internal"].(string), ":9090") {
						t.Errorf("list entry = %v", o)
					}
				}
			}
			if !found {
				t.Errorf("list --json lacks the mapping: %v", l)
			}
			human := e.mustRun(append([]string{"list"}, g...)...).stdout
			if !strings.Contains(human, "PROTO") || !strings.Contains(human, ":8080") {
				t.Errorf("list:\n%s", human)
			}

			r = e.mustRun(append([]string{"delete", "8080", "--json"}, g...)...)
			d := jsonLines(t, r.stdout)
			if len(d) != 1 || d[0]["protocol"] != "tcp" || d[0]["external_port"] != float64(8080) || d[0]["method"] != method {
				t.Errorf("delete --json = %v", d)
			}
			if _, ok := fakeEntry(gw, "tcp", 8080); ok {
				t.Errorf("router table after delete: %+v", gw.Mappings())
			}
			if _, ok := e.readState().find(gw.Addr(), "tcp", 8080); ok {
				t.Error("state record survived the delete")
			}
		})
	}
}

// TestAddBothProtocols: --tcp --udp maps both; add's human output is a
// table and says how to delete; delete without flags removes both.
func TestAddBothProtocols(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	g := []string{"--gateway", gw.Addr().String()}
	r := e.mustRun(append([]string{"add", "27015", "--tcp", "--udp"}, g...)...)
	for _, want := range []string{"PROTO", "tcp", "udp", "203.0.113.7:27015", "upnpmap delete 27015 --tcp --udp"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("add output lacks %q:\n%s", want, r.stdout)
		}
	}
	if len(gw.Mappings()) != 2 {
		t.Fatalf("router table: %+v", gw.Mappings())
	}
	r = e.mustRun(append([]string{"delete", "27015"}, g...)...)
	if !strings.Contains(r.stdout, "deleted tcp port 27015") || !strings.Contains(r.stdout, "deleted udp port 27015") {
		t.Errorf("delete output:\n%s", r.stdout)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("router table after delete: %+v", gw.Mappings())
	}
}

// TestDeleteForeignUPnPMapping: a mapping upnpmap did not make (no state
// record) is deleted over UPnP by external port.
func TestDeleteForeignUPnPMapping(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, Protocol: "UDP", ExternalPort: 5000,
		InternalAddr: netip.MustParseAddr("127.0.0.1"), InternalPort: 5000, Enabled: true, Description: "someone else"})
	l := jsonLines(t, e.mustRun("list", "--gateway", gw.Addr().String(), "--json").stdout)
	if len(l) != 1 || l[0]["ours"] != false || l[0]["description"] != "someone else" {
		t.Errorf("list --json = %v", l)
	}
	e.mustRun("delete", "5000", "--udp", "--gateway", gw.Addr().String())
	if len(gw.Mappings()) != 0 {
		t.Errorf("router table after delete: %+v", gw.Mappings())
	}
	// Deleting it again: nothing there, the router says so: exit 3.
	r := e.run("delete", "5000", "--udp", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "no such mapping") {
		t.Errorf("second delete: %s", r)
	}
}
