package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestRunRenewsAndDeletes: `run` maps, renews before the short lease runs
// out (the fake router expires mappings, so a missed renewal would empty its
// table), and deletes everything on SIGTERM.
func TestRunRenewsAndDeletes(t *testing.T) {
	for _, method := range []string{"pcp", "natpmp", "upnp"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel() // mostly waiting for renewals
			gw := gatewaytest.New(t, gatewaytest.Config{PCPMinLifetime: -1})
			e := newEnv(t)
			p := e.start("run", "--map", "8080", "--map", "udp:27015:27016", "--lifetime", "2s",
				"--gateway", gw.Addr().String(), "--method", method, "--json")
			mapped := map[string]bool{}
			for len(mapped) < 2 {
				o := p.waitEvent("mapped", 10*time.Second)
				mapped[o["protocol"].(string)+" "+o["external"].(string)+" "+o["method"].(string)] = true
			}
			if !mapped["tcp 203.0.113.7:8080 "+method] || !mapped["udp 203.0.113.7:27015 "+method] {
				t.Errorf("mapped events: %v", mapped)
			}
			if m, ok := fakeEntry(gw, "udp", 27015); !ok || m.InternalPort != 27016 {
				t.Errorf("router table: %+v", gw.Mappings())
			}
			// Recorded for crash cleanup while running.
			if n := len(e.readState().Mappings); n != 2 {
				t.Errorf("state file holds %d records while running, want 2", n)
			}
			// Two renewals of a 2s lease take about 2s; then the original
			// lease has run out, so the entries prove the renewals worked.
			p.waitEvent("renewed", 5*time.Second)
			p.waitEvent("renewed", 5*time.Second)
			time.Sleep(500 * time.Millisecond) // well past the first lease's end
			if _, ok := fakeEntry(gw, "tcp", 8080); !ok {
				t.Errorf("the mapping expired despite renewals: %+v", gw.Mappings())
			}

			rest, code := p.stop(syscall.SIGTERM)
			if code != 0 {
				t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
			}
			deleted := 0
			for _, l := range rest {
				if strings.Contains(l, `"event":"deleted"`) {
					deleted++
				}
			}
			if deleted != 2 {
				t.Errorf("%d deleted events, want 2:\n%s", deleted, strings.Join(rest, "\n"))
			}
			if left := gw.Mappings(); len(left) != 0 {
				t.Errorf("router table after SIGTERM: %+v", left)
			}
			if n := len(e.readState().Mappings); n != 0 {
				t.Errorf("state file holds %d records after a clean exit", n)
			}
		})
	}
}

// TestRunHuman: the people's output of run is a table, then events; SIGINT
// (Ctrl-C) ends it like SIGTERM.
func TestRunHuman(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	p := e.start("run", "--map", "80:8080", "--gateway", gw.Addr().String())
	if h := p.next(10 * time.Second); !strings.HasPrefix(h, "PROTO") {
		t.Fatalf("first line %q, want the table header", h)
	}
	if row := p.next(time.Second); !strings.Contains(row, "203.0.113.7:80") || !strings.Contains(row, ":8080") {
		t.Errorf("table row %q", row)
	}
	if l := p.next(time.Second); !strings.Contains(l, "Ctrl-C") {
		t.Errorf("line %q", l)
	}
	rest, code := p.stop(syscall.SIGINT)
	if code != 0 || len(rest) == 0 || !strings.Contains(rest[len(rest)-1], "deleted tcp 203.0.113.7:80") {
		t.Errorf("after SIGINT: exit %d, output %q", code, rest)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("router table: %+v", gw.Mappings())
	}
}

// TestRunFailsCleanly: when the second mapping is refused, the first one is
// deleted again and the exit code says why.
func TestRunFailsCleanly(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.Manual, Protocol: "TCP", ExternalPort: 9000,
		InternalAddr: gw.Addr(), InternalPort: 1, Enabled: true})
	e := newEnv(t)
	r := e.run("run", "--map", "8000", "--map", "9000", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "9000/tcp is already mapped") {
		t.Errorf("%s", r)
	}
	if _, ok := fakeEntry(gw, "tcp", 8000); ok {
		t.Errorf("the first mapping was left behind: %+v", gw.Mappings())
	}
}

// TestRunWithRelay: run keeps a relay next to its mappings; traffic to the
// relay reaches the target.
func TestRunWithRelay(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	target := echoTCP(t)
	relayPort := freePort(t)
	e := newEnv(t)
	p := e.start("run", "--map", "80:"+relayPort, "--relay", "127.0.0.1:"+relayPort+"="+target,
		"--gateway", gw.Addr().String(), "--json")
	r := p.waitEvent("relaying", 10*time.Second)
	if r["target"] != target || r["protocol"] != "tcp" {
		t.Errorf("relaying event %v", r)
	}
	p.waitEvent("mapped", 10*time.Second)
	checkEcho(t, "127.0.0.1:"+relayPort)
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("router table: %+v", gw.Mappings())
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}
