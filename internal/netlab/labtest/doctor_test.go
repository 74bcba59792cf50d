//go:build linux

package labtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// doctorOutEnv names a file to which TestDoctorStaleCleanup writes its
// `upnpmap doctor` run, as a user sees it (the README's lab run).
const doctorOutEnv = "UPNPMAP_LAB_DOCTOR_OUT"

// doctorJSON is the part of `doctor --json` this test reads.
type doctorJSON struct {
	Gateway   string `json:"gateway"`
	NAT       string `json:"nat"`
	Listening *struct {
		Addr      string `json:"addr"`
		Listening bool   `json:"listening"`
	} `json:"listening"`
	Stale []struct {
		Kind     string `json:"kind"`
		Method   string `json:"method"`
		Protocol string `json:"protocol"`
		External string `json:"external"`
		Internal string `json:"internal"`
		Removed  bool   `json:"removed"`
	} `json:"stale"`
	Findings []struct {
		Code string `json:"code"`
		What string `json:"what"`
		Fix  string `json:"fix"`
	} `json:"findings"`
	PortCanWork bool `json:"port_can_work"`
}

func (r doctorJSON) finding(code string) (what string, ok bool) {
	for _, f := range r.Findings {
		if f.Code == code {
			return f.What, true
		}
	}
	return "", false
}

// TestDoctorStaleCleanup: an `upnpmap add` killed (SIGKILL) after the router
// accepted its UPnP mapping but before it wrote its state file — it was
// waiting for a checker that never answers — leaves an entry on miniupnpd
// that no record and no live program holds. `upnpmap doctor PORT` names it
// (left behind) and names the port as one nothing listens on, exiting 7;
// `doctor --cleanup` deletes it, and the router's forwards no longer hold it.
func TestDoctorStaleCleanup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	state := t.TempDir()
	const port = 25300

	// A checker that accepts and never answers: add waits for it after Map.
	silent, err := lab.Listen(netlab.WAN, netip.AddrPortFrom(lab.Addr(netlab.WAN), 13490).String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go acceptOne(silent, accepted)

	cmd := lab.Cmd(ctx, netlab.LAN1, buildCLI(t), "add", fmt.Sprint(port), "--method", "upnp",
		"--check", silent.Addr().String())
	cmd.Env = cliEnv(state)
	var addOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &addOut, &addOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("upnpmap add did not reach the checker within 30 s; its output:\n%s", indent(addOut.String()))
	}
	cmd.Process.Kill() // no cleanup, no state record
	cmd.Wait()
	if !hasForward(t, ctx, lab, port) {
		t.Fatalf("the killed add left no forward of tcp %d on the router", port)
	}
	if _, err := os.Stat(filepath.Join(state, "upnpmap", "state.json")); err == nil {
		if s := readAdoptState(t, state); len(s.Mappings) != 0 {
			t.Fatalf("the killed add recorded %+v; this test needs a mapping no record holds", s.Mappings)
		}
	}

	text := runCLI(t, ctx, lab, netlab.LAN1, state, "doctor", fmt.Sprint(port))
	if out := os.Getenv(doctorOutEnv); out != "" {
		run := fmt.Sprintf("$ upnpmap doctor %d\n%s$ echo $?\n%d\n", port, text.stdout, text.code)
		if err := os.WriteFile(out, []byte(run), 0o644); err != nil {
			t.Errorf("%s: %v", doctorOutEnv, err)
		}
	}
	r := runDoctorJSON(t, ctx, lab, state, "doctor", fmt.Sprint(port), "--json")
	lan1 := netip.AddrPortFrom(lab.Addr(netlab.LAN1), port).String()
	if len(r.Stale) != 1 || r.Stale[0].Kind != "left-behind" || r.Stale[0].Method != "upnp" ||
		!strings.HasSuffix(r.Stale[0].External, fmt.Sprintf(":%d", port)) || r.Stale[0].Internal != lan1 || r.Stale[0].Removed {
		t.Errorf("stale: %+v; want the one left-behind UPnP entry tcp %d -> %s, not removed", r.Stale, port, lan1)
	}
	if what, ok := r.finding("NOT_LISTENING"); !ok || !strings.Contains(what, fmt.Sprintf("port %d", port)) {
		t.Errorf("findings %+v: want NOT_LISTENING naming port %d", r.Findings, port)
	}
	if _, ok := r.finding("STALE_MAPPINGS"); !ok {
		t.Errorf("findings %+v: want STALE_MAPPINGS", r.Findings)
	}
	if r.PortCanWork || r.Listening == nil || r.Listening.Listening || r.Gateway != lab.Gateway().String() {
		t.Errorf("port_can_work %v, listening %+v, gateway %s", r.PortCanWork, r.Listening, r.Gateway)
	}
	if !hasForward(t, ctx, lab, port) {
		t.Fatal("doctor without --cleanup removed the forward")
	}

	r = runDoctorJSON(t, ctx, lab, state, "doctor", fmt.Sprint(port), "--cleanup", "--json")
	if len(r.Stale) != 1 || !r.Stale[0].Removed {
		t.Errorf("stale after --cleanup: %+v; want the entry removed", r.Stale)
	}
	if hasForward(t, ctx, lab, port) {
		t.Error("the router still forwards the stale port after doctor --cleanup")
	}
	r = runDoctorJSON(t, ctx, lab, state, "doctor", fmt.Sprint(port), "--json")
	if len(r.Stale) != 0 {
		t.Errorf("stale after the cleanup: %+v; want none", r.Stale)
	}
}

// runDoctorJSON runs a `doctor --json` and parses its object; doctor exits
// 7 here (nothing listens on the port).
func runDoctorJSON(t *testing.T, ctx context.Context, lab *netlab.Lab, state string, args ...string) doctorJSON {
	t.Helper()
	res := runCLI(t, ctx, lab, netlab.LAN1, state, args...)
	if res.code != 7 {
		t.Errorf("upnpmap %v: exit %d; want 7 (the port cannot work: nothing listens)", args, res.code)
	}
	var r doctorJSON
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("upnpmap %v: not one JSON object: %v", args, err)
	}
	return r
}

// hasForward says whether miniupnpd forwards TCP port.
func hasForward(t *testing.T, ctx context.Context, lab *netlab.Lab, port uint16) bool {
	t.Helper()
	fw, err := lab.Forwards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fw {
		if f.Protocol == "tcp" && f.ExternalPort == port {
			return true
		}
	}
	return false
}

// acceptOne passes the first connection of ln on c.
func acceptOne(ln net.Listener, c chan<- net.Conn) {
	conn, err := ln.Accept()
	if err == nil {
		c <- conn
	}
}
