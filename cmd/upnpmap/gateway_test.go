package main

import (
	be "encoding/binary"
	"net"
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

// TestGatewayCommandPrintsFastChanges: a mapping added and deleted within a
// few milliseconds is printed twice, added then removed, with the protocol
// that made each change (a 200 ms poll used to miss both).
func TestGatewayCommandPrintsFastChanges(t *testing.T) {
	e := newEnv(t)
	p := e.start("gateway", "--json")
	info := p.waitEvent("listening", 10*time.Second)
	addr, _ := info["pcp"].(string)
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// NAT-PMP (RFC 6886 §3.3): map TCP 4321 for an hour, then delete it.
	for _, lifetime := range []uint32{3600, 0} {
		req := make([]byte, 12)
		req[1] = 2
		be.BigEndian.PutUint16(req[4:], 4321)
		be.BigEndian.PutUint16(req[6:], 4321)
		be.BigEndian.PutUint32(req[8:], lifetime)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply := make([]byte, 16)
		if n, err := c.Read(reply); err != nil || n != 16 || be.BigEndian.Uint16(reply[2:]) != 0 {
			t.Fatalf("NAT-PMP reply % x, %v", reply, err)
		}
	}
	added := p.waitEvent("added", 5*time.Second)
	removed := p.waitEvent("removed", 5*time.Second)
	for _, ev := range []map[string]any{added, removed} {
		if ev["external_port"] != float64(4321) || ev["method"] != "natpmp" || ev["by"] != "natpmp" {
			t.Errorf("event %v", ev)
		}
	}
	p.stop(syscall.SIGINT)
}

// TestGatewayCommandPrintsExpiry: with no polling, a lease that runs out is
// still printed, when it runs out.
func TestGatewayCommandPrintsExpiry(t *testing.T) {
	e := newEnv(t)
	p := e.start("gateway", "--json")
	info := p.waitEvent("listening", 10*time.Second)
	c, err := net.Dial("udp4", info["pcp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// NAT-PMP map of UDP 4322 for one second (NAT-PMP lifetimes are not
	// clamped).
	req := []byte{0, 1, 0, 0, 0x10, 0xe2, 0x10, 0xe2, 0, 0, 0, 1}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if ev := p.waitEvent("added", 5*time.Second); ev["external_port"] != float64(4322) || ev["lifetime_s"] != float64(1) {
		t.Fatalf("added event %v", ev)
	}
	if ev := p.waitEvent("removed", 10*time.Second); ev["external_port"] != float64(4322) || ev["by"] != "expiry" {
		t.Errorf("removed event %v", ev)
	}
	p.stop(syscall.SIGINT)
}
