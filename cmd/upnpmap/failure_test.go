package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestNoGatewaySilent: a router that swallows every request gives exit 2,
// within the --timeout, and the message names the methods, the address and
// the time waited.
func TestNoGatewaySilent(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	for _, m := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.UPnP} {
		gw.SetSilent(m, true)
	}
	e := newEnv(t)
	addr := gw.Addr().String()
	for _, cmd := range [][]string{{"discover"}, {"ip"}, {"add", "8080"}, {"list"}} {
		r := e.run(append(cmd, "--gateway", addr, "--timeout", "300ms")...)
		if r.code != exitNoGateway {
			t.Errorf("%v: %s", cmd, r)
			continue
		}
		if r.took > 5*time.Second {
			t.Errorf("%v took %v with --timeout 300ms", cmd, r.took)
		}
		if cmd[0] == "discover" {
			for _, want := range []string{"no gateway answered", "pcp, natpmp, upnp", addr, "--interface NAME", "--timeout"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("discover: stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			// The address was given: the advice must not ask for it
			// (issue 19 item 3).
			if strings.Contains(r.stderr, "--gateway IP") {
				t.Errorf("discover --gateway %s: the advice asks for --gateway:\n%s", addr, r.stderr)
			}
		}
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("a silent router got mappings: %+v", gw.Mappings())
	}
}

// TestNoGatewayNothingThere: an address where nothing listens (ICMP port
// unreachable on loopback) fails fast with exit 2, even without --timeout.
func TestNoGatewayNothingThere(t *testing.T) {
	e := newEnv(t)
	r := e.run("discover", "--gateway", "127.0.0.1")
	if r.code != exitNoGateway || !strings.Contains(r.stderr, "no gateway answered") {
		t.Fatalf("%s", r)
	}
	if r.took > 5*time.Second {
		t.Errorf("took %v", r.took)
	}
	if r := e.run("add", "8080", "--gateway", "127.0.0.1", "--method", "natpmp"); r.code != exitNoGateway ||
		!strings.Contains(r.stderr, "tried natpmp at 127.0.0.1") {
		t.Errorf("add: %s", r)
	}
}

// TestRefused: the router answers no. Exit 3, with a message naming the
// cause and the way out.
func TestRefused(t *testing.T) {
	t.Run("not authorized", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
		gw.SetResult(gatewaytest.NATPMP, gatewaytest.NATPMPNotAuthorized)
		gw.FailAction("AddPortMapping", 606)
		gw.FailAction("AddAnyPortMapping", 606)
		r := newEnv(t).run("add", "8080", "--gateway", gw.Addr().String())
		if r.code != exitRefused || !strings.Contains(r.stderr, "refused") || !strings.Contains(r.stderr, "router's settings") {
			t.Errorf("%s", r)
		}
	})
	t.Run("port in use", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.Manual, Protocol: "TCP", ExternalPort: 8080,
			InternalAddr: netip.MustParseAddr("127.9.9.9"), InternalPort: 80, Enabled: true})
		r := newEnv(t).run("add", "8080", "--gateway", gw.Addr().String())
		if r.code != exitRefused || !strings.Contains(r.stderr, "external port 8080/tcp is already mapped") ||
			!strings.Contains(r.stderr, "choose another EXTPORT") {
			t.Errorf("%s", r)
		}
		if m, _ := fakeEntry(gw, "tcp", 8080); m.InternalAddr != netip.MustParseAddr("127.9.9.9") {
			t.Errorf("the other host's mapping was replaced: %+v", gw.Mappings())
		}
	})
	t.Run("secure mode, another host", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{SecureMode: true})
		r := newEnv(t).run("add", "80", "192.0.2.55:80", "--gateway", gw.Addr().String())
		for _, want := range []string{"refused to map port 80 for another host, 192.0.2.55", "secure mode",
			"run upnpmap on 192.0.2.55", "upnpmap add 80 192.0.2.55:80 --relay"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
		if r.code != exitRefused {
			t.Errorf("%s", r)
		}
	})
	t.Run("no such mapping", func(t *testing.T) {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		r := newEnv(t).run("delete", "4444", "--gateway", gw.Addr().String())
		if r.code != exitRefused || !strings.Contains(r.stderr, "no such mapping") {
			t.Errorf("%s", r)
		}
	})
}

// TestTimeout: the router was there (the mapping was made) and then stops
// answering: exit 4, not "no gateway".
func TestTimeout(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	e.mustRun("add", "8080", "--method", "natpmp", "--gateway", gw.Addr().String())
	gw.SetSilent(gatewaytest.NATPMP, true)
	r := e.run("delete", "8080", "--gateway", gw.Addr().String(), "--timeout", "500ms")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "stopped answering") || !strings.Contains(r.stderr, "--timeout") {
		t.Errorf("%s", r)
	}
	if r.took > 5*time.Second {
		t.Errorf("took %v with --timeout 500ms", r.took)
	}
	// The record stays, so that a later delete can still remove it.
	if _, ok := e.readState().find(gw.Addr(), "tcp", 8080); !ok {
		t.Error("the state record was dropped although the delete failed")
	}
}

// TestListWithoutUPnP: a router that speaks only NAT-PMP and PCP cannot show
// its table; list says so and shows the mappings upnpmap made.
func TestListWithoutUPnP(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisableUPnP: true})
	e := newEnv(t)
	g := []string{"--gateway", gw.Addr().String()}
	e.mustRun(append([]string{"add", "7000"}, g...)...)
	r := e.mustRun(append([]string{"list", "--json"}, g...)...)
	l := jsonLines(t, r.stdout)
	if len(l) != 1 || l[0]["external"] != "203.0.113.7:7000" || l[0]["method"] != "pcp" || l[0]["ours"] != true {
		t.Errorf("list --json = %v", l)
	}
	if !strings.Contains(r.stderr, "does not answer UPnP") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
