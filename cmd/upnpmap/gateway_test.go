package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGatewayCommand: `upnpmap gateway` runs a fake router another process
// can use, and prints what happens to its table.
func TestGatewayCommand(t *testing.T) {
	e := newEnv(t)
	p := e.start("gateway", "--json", "--external", "198.51.100.9")
	info := p.waitEvent("listening", 10*time.Second)
	addr, _ := info["gateway"].(string)
	if !strings.HasPrefix(addr, "127.") || info["pcp"] != addr+":5351" || info["external"] != "198.51.100.9" ||
		!strings.HasPrefix(info["location"].(string), "http://"+addr+":") {
		t.Fatalf("listening line %v", info)
	}
	d := jsonLines(t, e.mustRun("discover", "--gateway", addr, "--json").stdout)[0]
	if d["external"] != "198.51.100.9" || len(d["methods"].([]any)) != 3 {
		t.Errorf("discover against `upnpmap gateway`: %v", d)
	}
	e.mustRun("add", "8080", "--gateway", addr)
	if ev := p.waitEvent("added", 5*time.Second); ev["external_port"] != float64(8080) || ev["protocol"] != "TCP" {
		t.Errorf("added event %v", ev)
	}
	e.mustRun("delete", "8080", "--gateway", addr)
	p.waitEvent("removed", 5*time.Second)
	if _, code := p.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
}

func TestGatewayCommandHuman(t *testing.T) {
	e := newEnv(t)
	p := e.start("gateway", "--no-pcp", "--igd", "1")
	first := p.next(10 * time.Second)
	if !strings.HasPrefix(first, "fake gateway on 127.") || !strings.Contains(first, "Ctrl-C") {
		t.Errorf("first line %q", first)
	}
	addr := strings.Fields(first)[3]
	lines := []string{p.next(time.Second), p.next(time.Second), p.next(time.Second), p.next(time.Second), p.next(time.Second)}
	out := strings.Join(lines, "\n")
	for _, want := range []string{"PCP, NAT-PMP", addr + ":5351", "SSDP", "description", "external", "try: upnpmap discover --gateway " + addr} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	d := jsonLines(t, e.mustRun("discover", "--gateway", addr, "--json").stdout)[0]
	if m := d["methods"].([]any); len(m) != 2 || m[0] != "natpmp" || m[1] != "upnp" {
		t.Errorf("methods of a --no-pcp gateway: %v", m)
	}
	p.stop(syscall.SIGTERM)
}

// TestBinaryDoesNotLinkTesting: the shipped binary imports gatewaytest (for
// the demo and gateway commands) but must not link package testing, whose
// init registers test flags and whose code bloats the binary.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" {
			t.Fatalf("the upnpmap binary links package testing; go list -deps:\n%s", out)
		}
	}
}
