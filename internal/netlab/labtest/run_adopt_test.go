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

// adoptState is the part of the CLI's state file this test reads.
type adoptState struct {
	Mappings []struct {
		Method   string `json:"method"`
		External string `json:"external"`
		Nonce    string `json:"nonce"`
	} `json:"mappings"`
}

// readAdoptState reads the state file the CLI keeps under dir.
func readAdoptState(t *testing.T, dir string) adoptState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "upnpmap", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s adoptState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return s
}

// TestRunRestartAdoptsPCP: a `run` killed without cleanup (SIGKILL) leaves
// its PCP mapping on miniupnpd; the next `run` with the same --map takes it
// over — the same external port, and the mapping it holds is the old one,
// under the nonce the first run saved: it renewed rather than sent a new MAP
// with a new nonce (which miniupnpd would answer with another port, or
// refuse, while the old mapping lives).
func TestRunRestartAdoptsPCP(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	state := t.TempDir()
	args := []string{"run", "--map", "udp:23410", "--method", "pcp", "--lifetime", "120s", "--json"}

	first := lab.Cmd(ctx, netlab.LAN1, buildCLI(t), args...)
	first.Env = cliEnv(state)
	out, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go readLines(out, lines)
	var seen []cliChecked
	m1 := waitEvent(t, lines, &seen, "mapped", 20*time.Second)
	saved := readAdoptState(t, state)
	if len(saved.Mappings) != 1 || saved.Mappings[0].Nonce == "" {
		t.Fatalf("state file while the first run lives: %+v; want one PCP record with its nonce", saved)
	}
	first.Process.Kill() // no cleanup: the mapping stays on the router
	first.Wait()

	// runEvents' run is the restart; its cleanup stops it with SIGINT.
	lines2, stop := runEvents(t, ctx, lab, netlab.LAN1, state, args[1:len(args)-1]...)
	seen = nil
	m2 := waitEvent(t, lines2, &seen, "mapped", 20*time.Second)
	if m2.External != m1.External {
		t.Errorf("restarted run holds %s, want the first run's %s", m2.External, m1.External)
	}
	now := readAdoptState(t, state)
	if len(now.Mappings) != 1 || now.Mappings[0].Nonce != saved.Mappings[0].Nonce {
		t.Errorf("state file after the restart: %+v; want the one mapping under the saved nonce %s", now, saved.Mappings[0].Nonce)
	}
	stop()
}
