//go:build linux

package labtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// restartState is the part of the CLI's state file with the upstream leg.
type restartState struct {
	Mappings []struct {
		External string `json:"external"`
		Nonce    string `json:"nonce"`
		Upstream *struct {
			Gateway  string `json:"gateway"`
			External string `json:"external"`
			Nonce    string `json:"nonce"`
		} `json:"upstream"`
	} `json:"mappings"`
}

// TestDoubleNATRunRestart: a `run` through the double NAT killed without
// cleanup (SIGKILL) leaves both legs on their miniupnpd; the next `run`
// with the same --map takes both over, as TestRunRestartAdoptsPCP does on
// one router: the same outer address, the ISP router still holds one
// forward, and the state file the same upstream nonce. `list` shows the
// upstream leg beside the home router's table, marked with its router.
func TestDoubleNATRunRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	state := t.TempDir()
	args := []string{"--map", "udp:26960", "--method", "pcp", "--upstream-method", "pcp", "--lifetime", "120s"}

	first := lab.Cmd(ctx, netlab.LAN1, buildCLI(t), append(append([]string{"run"}, args...), "--json")...)
	first.Env = cliEnv(state)
	out, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lines1 := make(chan string, 64)
	go readLines(out, lines1)
	var seen []cliChecked
	m1 := waitEvent(t, lines1, &seen, "mapped", 30*time.Second)
	if m1.External != lab.ISPExternalAddr().String()+":26960" {
		t.Fatalf("first run mapped %s; want the ISP router's address", m1.External)
	}
	saved := readRestartState(t, state)
	if len(saved.Mappings) != 1 || saved.Mappings[0].Upstream == nil || saved.Mappings[0].Upstream.Nonce == "" {
		t.Fatalf("state file while the first run lives: %+v; want one record with its upstream PCP leg", saved)
	}
	before, err := lab.ISPForwards(ctx)
	if err != nil || len(before) != 1 {
		t.Fatalf("ISP router forwards %v (%v); want the one upstream leg", before, err)
	}
	first.Process.Kill() // no cleanup: both legs stay
	first.Wait()

	lines2, stop := runEvents(t, ctx, lab, netlab.LAN1, state, args...)
	seen = nil
	m2 := waitEvent(t, lines2, &seen, "mapped", 30*time.Second)
	if m2.External != m1.External {
		t.Errorf("restarted run holds %s, want the first run's %s", m2.External, m1.External)
	}
	after, err := lab.ISPForwards(ctx)
	if err != nil || len(after) != 1 || after[0] != before[0] {
		t.Errorf("ISP router forwards %v after the restart (%v), want the one it held: %v", after, err, before)
	}
	now := readRestartState(t, state)
	if len(now.Mappings) != 1 || now.Mappings[0].Upstream == nil || now.Mappings[0].Upstream.Nonce != saved.Mappings[0].Upstream.Nonce {
		t.Errorf("state file after the restart: %+v; want the upstream leg under the saved nonce %s", now, saved.Mappings[0].Upstream.Nonce)
	}

	r := mustCLI(t, ctx, lab, netlab.LAN1, state, "list", "--json")
	var ups []string
	for _, row := range jsonLines[struct {
		External string `json:"external"`
		Upstream string `json:"upstream"`
	}](t, "list --json", r.stdout) {
		if row.Upstream != "" {
			ups = append(ups, row.Upstream+" "+row.External)
		}
	}
	if want := lab.ISPGateway().String() + " " + m1.External; len(ups) != 1 || ups[0] != want {
		t.Errorf("list --json upstream rows %q, want [%s]", ups, want)
	}
	r = mustCLI(t, ctx, lab, netlab.LAN1, state, "list")
	wantOutput(t, "list", r.stdout, "pcp @"+lab.ISPGateway().String())
	stop()
}

// readRestartState reads the state file the CLI keeps under dir.
func readRestartState(t *testing.T, dir string) restartState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "upnpmap", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s restartState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return s
}
