package main

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/reach"
)

// add --check and run --check (issue 11), with a reach.Server on 127.0.0.1
// as the checker and gatewaytest as the router. On loopback there is no NAT:
// the checker's probe lands on the external port of this machine, so a
// mapping whose external and internal ports are equal behaves like a
// working forward, and one whose ports differ like a broken one. The fake
// router's external address (203.0.113.7) is not the 127.0.0.1 the checker
// sees, so the comparison reports UPSTREAM_NAT, as it would on a network
// where that happened.

// loopChecker starts a checker on loopback and returns its address.
func loopChecker(t *testing.T) string {
	t.Helper()
	srv := &reach.Server{Addr: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.LocalAddr().String()
}

// listenLoop holds a TCP port on loopback (the application) and returns it.
func listenLoop(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptAndClose(ln)
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// unusedPort returns a TCP port nothing held a moment ago.
func unusedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func portArg(p uint16) string { return strconv.Itoa(int(p)) }

// TestAddCheckOpen: the path works (upnpmap answers the probe itself while
// nothing listens): exit 0, "open" in both outputs.
func TestAddCheckOpen(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	checker := loopChecker(t)
	e := newEnv(t)
	port := portArg(unusedPort(t))
	r := e.mustRun("add", port, "--check", checker, "--gateway", gw.Addr().String(), "--json")
	objs := jsonLines(t, r.stdout)
	if len(objs) != 1 {
		t.Fatalf("add --json printed %d objects:\n%s", len(objs), r.stdout)
	}
	c, _ := objs[0]["check"].(map[string]any)
	if c == nil || c["verdict"] != "open" || c["reachable"] != true || c["observed"] != "127.0.0.1" {
		t.Fatalf("check = %v", objs[0]["check"])
	}
	if !strings.Contains(r.stderr, "nothing listens on tcp port "+port) {
		t.Errorf("no warning that nothing listens on the port; stderr:\n%s", r.stderr)
	}
	port2 := portArg(listenLoop(t))
	r = e.mustRun("add", port2, "--check", checker, "--gateway", gw.Addr().String())
	if !strings.Contains(r.stdout, "check tcp 203.0.113.7:"+port2+": open") {
		t.Errorf("human output lacks the open check:\n%s", r)
	}
	if strings.Contains(r.stderr, "nothing listens") {
		t.Errorf("warned about a port the application holds:\n%s", r.stderr)
	}
}

// TestAddCheckUnreachable: mapped, but the checker's probe does not arrive
// where the application listens: exit 6, and the comparison's finding.
func TestAddCheckUnreachable(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	checker := loopChecker(t)
	e := newEnv(t)
	ext, internal := unusedPort(t), listenLoop(t)
	r := e.run("add", portArg(ext), portArg(internal), "--check", checker, "--gateway", gw.Addr().String())
	if r.code != exitUnreachable {
		t.Fatalf("exit %d, want %d (mapped but not reachable)\n%s", r.code, exitUnreachable, r)
	}
	if _, ok := fakeEntry(gw, "tcp", ext); !ok {
		t.Errorf("the mapping is gone; add should leave it: %+v", gw.Mappings())
	}
	for _, want := range []string{"NOT reachable (refused)", "seen as 127.0.0.1", "UPSTREAM_NAT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	r = e.run("add", portArg(ext), portArg(internal), "--check", checker, "--gateway", gw.Addr().String(), "--json")
	if r.code != exitUnreachable {
		t.Fatalf("--json: exit %d\n%s", r.code, r)
	}
	objs := jsonLines(t, r.stdout)
	c, _ := objs[0]["check"].(map[string]any)
	if c == nil || c["reachable"] != false || c["verdict"] != "refused" || c["nat"] != "UPSTREAM_NAT" {
		t.Fatalf("check = %v", objs[0]["check"])
	}
}

// TestAddCheckExitDocumented: exit 6 (mapped but not reachable) is add
// --check's as much as check's, and the manual page says so.
func TestAddCheckExitDocumented(t *testing.T) {
	man := manPage()
	_, entry, _ := strings.Cut(man, ".TP\n.B "+strconv.Itoa(exitUnreachable)+"\n")
	entry, _, _ = strings.Cut(entry, "\n")
	if !strings.HasPrefix(entry, "check") || !strings.Contains(entry, "add \\-\\-check") {
		t.Errorf("manual page, exit status %d: %q; want it to name check and add --check", exitUnreachable, entry)
	}
	if r := newEnv(t).mustRun("add", "--help"); !strings.Contains(r.stdout, "--check: exit 6 when not reachable") {
		t.Errorf("add --help does not give --check's exit status:\n%s", r.stdout)
	}
}

// TestAddCheckDown: a checker that does not answer gives no verdict: exit
// 4, and the mapping stays.
func TestAddCheckDown(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	down := "127.0.0.1:" + portArg(unusedPort(t))
	r := e.run("add", portArg(unusedPort(t)), "--check", down, "--gateway", gw.Addr().String())
	if r.code != exitTimeout || !strings.Contains(r.stdout, "no verdict") {
		t.Fatalf("exit %d, want %d with no verdict\n%s", r.code, exitTimeout, r)
	}
	if len(gw.Mappings()) != 1 {
		t.Errorf("router table %+v: the mapping should stay", gw.Mappings())
	}
}

// TestRunCheckEvents: run --check prints verified for a working mapping,
// unreachable for a broken one (with its cause), and nothing-listening
// where no application listens, in JSON and for people.
func TestRunCheckEvents(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	checker := loopChecker(t)
	e := newEnv(t)
	good := listenLoop(t)
	brokenExt, brokenInt := unusedPort(t), listenLoop(t)
	idle := unusedPort(t)
	p := e.start("run", "--map", portArg(good), "--map", portArg(brokenExt)+":"+portArg(brokenInt),
		"--map", portArg(idle), "--check", checker, "--check-every", "1h",
		"--gateway", gw.Addr().String(), "--method", "pcp", "--json")
	seen := map[string]map[string]any{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		o := p.nextJSON(time.Until(deadline))
		switch o["event"] {
		case "verified", "unreachable", "nothing-listening":
			seen[o["external"].(string)] = o
		}
	}
	ext := func(p uint16) string { return "203.0.113.7:" + portArg(p) }
	if o := seen[ext(good)]; o["event"] != "verified" {
		t.Errorf("working mapping: %v", o)
	}
	if o := seen[ext(brokenExt)]; o["event"] != "unreachable" || !strings.Contains(o["error"].(string), "UPSTREAM_NAT") {
		t.Errorf("broken mapping: %v", o)
	}
	if o := seen[ext(idle)]; o["event"] != "nothing-listening" {
		t.Errorf("idle mapping: %v", o)
	}
	if !strings.Contains(p.stderr.String(), "nothing listens on tcp port "+portArg(idle)) {
		t.Errorf("no start-up warning for the idle port; stderr:\n%s", p.stderr)
	}
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if left := gw.Mappings(); len(left) != 0 {
		t.Errorf("router table after SIGTERM: %+v", left)
	}

	// People's output: one line per event.
	h := e.start("run", "--map", portArg(good), "--check", checker, "--gateway", gw.Addr().String(), "--method", "pcp")
	for {
		l := h.next(20 * time.Second)
		if strings.Contains(l, "verified") {
			if !strings.Contains(l, ext(good)) {
				t.Errorf("verified line %q lacks the mapping", l)
			}
			break
		}
	}
	if _, code := h.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, h.stderr)
	}
}

// TestRunCheckEveryBound: an interval that would hammer the checker and
// the router is a usage error, before anything is mapped.
func TestRunCheckEveryBound(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	r := e.run("run", "--map", "8080", "--check", "127.0.0.1", "--check-every", "10ms", "--gateway", gw.Addr().String())
	if r.code != exitUsage || !strings.Contains(r.stderr, "--check-every") {
		t.Fatalf("exit %d, want a usage error\n%s", r.code, r)
	}
	if n := gw.Requests(gatewaytest.UPnP) + gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP); n != 0 {
		t.Errorf("%d requests to the router before the usage error", n)
	}
}

// TestAddWarnsNothingListening: without --check too, add says when nothing
// on this machine listens on the internal port yet (the mapping is made and
// kept), and says nothing when the application holds the port.
func TestAddWarnsNothingListening(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	idlePort := unusedPort(t)
	idle := portArg(idlePort)
	r := e.mustRun("add", idle, "--gateway", gw.Addr().String())
	if !strings.Contains(r.stderr, "nothing listens on tcp port "+idle+" here yet: the mapping stays") {
		t.Errorf("no warning that nothing listens on the port; stderr:\n%s", r.stderr)
	}
	if _, ok := fakeEntry(gw, "tcp", idlePort); !ok {
		t.Errorf("the mapping for %s is not on the router after the warning", idle)
	}
	held := portArg(listenLoop(t))
	r = e.mustRun("add", held, "--gateway", gw.Addr().String())
	if strings.Contains(r.stderr, "nothing listens") {
		t.Errorf("warned about a port the application holds:\n%s", r.stderr)
	}
}
