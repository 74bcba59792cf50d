//go:build linux

package labtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// cliMapping is a line of `add --json` (and of add --relay's events).
type cliMapping struct {
	Event       string     `json:"event"`
	Method      string     `json:"method"`
	Protocol    string     `json:"protocol"`
	External    string     `json:"external"`
	Internal    string     `json:"internal"`
	Expires     *time.Time `json:"expires"`
	Description string     `json:"description"`
	Relay       string     `json:"relay"`
	Error       string     `json:"error"`
	// relaying lines
	Listen string `json:"listen"`
	Target string `json:"target"`
	// IPv6: "ipv6" for a pinhole; the pinhole opened with an IPv4
	// mapping; why the other family is missing
	Family           string      `json:"family"`
	Pinhole          *cliMapping `json:"pinhole"`
	OtherFamilyError string      `json:"other_family_error"`
}

// cliEntry is a line of `list --json`.
type cliEntry struct {
	Protocol    string `json:"protocol"`
	External    string `json:"external"`
	Internal    string `json:"internal"`
	Method      string `json:"method"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	Ours        bool   `json:"ours"`
	Family      string `json:"family"` // "ipv6" for a pinhole we made
}

// cliDeleted is a line of `delete --json`.
type cliDeleted struct {
	Protocol     string `json:"protocol"`
	ExternalPort uint16 `json:"external_port"`
	Method       string `json:"method"`
}

// jsonLines decodes every line of out into a T, failing the test on a line
// that is not one.
func jsonLines[T any](t *testing.T, what, out string) []T {
	t.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: not a JSON line: %q: %v", what, line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func findEntry(entries []cliEntry, proto, external string) (cliEntry, bool) {
	for _, e := range entries {
		if e.Protocol == proto && e.External == external {
			return e, true
		}
	}
	return cliEntry{}, false
}

func wantOutput(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Fatalf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

// TestCLI runs the upnpmap command in a LAN host against the router: add,
// list and delete for people and with --json, checking from the WAN host
// that what add opened is open and what delete removed is closed; then
// `add EXT HOST:PORT --relay` in the foreground, relaying from the WAN to a
// server on the other LAN host, until interrupted.
func TestCLI(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	buildCLI(t)
	state := t.TempDir()
	lan1 := netlab.LAN1

	t.Run("add list delete", func(t *testing.T) {
		startEcho(t, lab, lan1, "tcp", lanAddr(lab, lan1, 21000))
		startEcho(t, lab, lan1, "udp", lanAddr(lab, lan1, 21001))
		tcpExt, udpExt := extAddr(lab, 21000), extAddr(lab, 21001)

		// For people: the table names the mapping.
		r := mustCLI(t, ctx, lab, lan1, state, "add", "21000", "-d", "labtest cli tcp")
		wantOutput(t, "add", r.stdout, "EXTERNAL", tcpExt.String(), lanAddr(lab, lan1, 21000), "upnpmap delete 21000")
		wantReachable(t, ctx, lab, "tcp", tcpExt, lan1)

		// For scripts: one JSON object.
		r = mustCLI(t, ctx, lab, lan1, state, "add", "21001", "--udp", "--method", "upnp", "-d", "labtest cli udp", "--lifetime", "10m", "--json")
		added := jsonLines[cliMapping](t, "add --json", r.stdout)
		if len(added) != 1 || added[0].Method != "upnp" || added[0].Protocol != "udp" || added[0].External != udpExt.String() ||
			added[0].Internal != lanAddr(lab, lan1, 21001) || added[0].Expires == nil {
			t.Fatalf("add --json: %+v; want one upnp udp mapping %v -> %s with an expiry", added, udpExt, lanAddr(lab, lan1, 21001))
		}
		if left := time.Until(*added[0].Expires); left < 9*time.Minute || left > 11*time.Minute {
			t.Errorf("add --json: expires in %v; want about the 10m asked for", left)
		}
		wantReachable(t, ctx, lab, "udp", udpExt, lan1)

		r = mustCLI(t, ctx, lab, lan1, state, "list")
		wantOutput(t, "list", r.stdout, "DESCRIPTION", tcpExt.String(), udpExt.String(), "labtest cli udp")
		r = mustCLI(t, ctx, lab, lan1, state, "list", "--json")
		entries := jsonLines[cliEntry](t, "list --json", r.stdout)
		tcpEntry, ok := findEntry(entries, "tcp", tcpExt.String())
		if !ok || !tcpEntry.Ours || tcpEntry.Internal != lanAddr(lab, lan1, 21000) || !tcpEntry.Enabled {
			t.Fatalf("list --json: tcp %v: %+v (found %v); want our enabled mapping to %s", tcpExt, tcpEntry, ok, lanAddr(lab, lan1, 21000))
		}
		udpEntry, ok := findEntry(entries, "udp", udpExt.String())
		if !ok || !udpEntry.Ours || udpEntry.Method != "upnp" || udpEntry.Description != "labtest cli udp" {
			t.Fatalf("list --json: udp %v: %+v (found %v); want ours, upnp, \"labtest cli udp\"", udpExt, udpEntry, ok)
		}

		r = mustCLI(t, ctx, lab, lan1, state, "delete", "21000")
		wantOutput(t, "delete", r.stdout, "deleted tcp port 21000")
		wantClosed(t, ctx, lab, "tcp", tcpExt)
		r = mustCLI(t, ctx, lab, lan1, state, "delete", "21001", "--udp", "--json")
		deleted := jsonLines[cliDeleted](t, "delete --json", r.stdout)
		if len(deleted) != 1 || deleted[0] != (cliDeleted{Protocol: "udp", ExternalPort: 21001, Method: "upnp"}) {
			t.Fatalf("delete --json: %+v; want udp 21001 by upnp", deleted)
		}
		wantClosed(t, ctx, lab, "udp", udpExt)

		r = mustCLI(t, ctx, lab, lan1, state, "list", "--json")
		entries = jsonLines[cliEntry](t, "list --json", r.stdout)
		for _, e := range entries {
			if e.External == tcpExt.String() || e.External == udpExt.String() {
				t.Fatalf("list --json after delete still shows %+v", e)
			}
		}
	})

	t.Run("relay", func(t *testing.T) {
		lan2 := netlab.LAN2
		target := lanAddr(lab, lan2, 21010)
		startEcho(t, lab, lan2, "tcp", target)
		ext := extAddr(lab, 21010)

		cmd := lab.Cmd(ctx, lan1, buildCLI(t), "add", "21010", target, "--relay", "--json", "-v")
		cmd.Env = cliEnv(state)
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 64)
		go readLines(stdout, lines)
		exited := false
		defer func() {
			if !exited {
				cmd.Process.Kill()
				for range lines {
				}
				cmd.Wait()
			}
			if t.Failed() {
				t.Logf("add --relay stderr:\n%s", indent(stderr.String()))
			}
		}()

		// It runs in the foreground: wait for "mapped".
		var mapped cliMapping
		timeout := time.After(15 * time.Second)
		for mapped.Event != "mapped" {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("add --relay ended before mapping")
				}
				t.Logf("add --relay: %s", line)
				var m cliMapping
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("add --relay --json: not a JSON line: %q", line)
				}
				mapped = m
			case <-timeout:
				t.Fatalf("add --relay: no mapping within 15s")
			}
		}
		if mapped.External != ext.String() || mapped.Relay != target {
			t.Fatalf("add --relay: mapped %+v; want %v relayed to %s", mapped, ext, target)
		}
		// Through the router to lan1's relay, then to lan2's server, which
		// sees the relay on lan1 as its peer.
		res, elapsed, err := waitReachable(ctx, lab, "tcp", ext, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.server != string(lan2) || res.peer.Addr() != lab.Addr(lan1) {
			t.Fatalf("%v: answered by %s seeing %v; want %s seeing the relay on %v", ext, res.server, res.peer, lan2, lab.Addr(lan1))
		}
		t.Logf("WAN -> %v -> relay on lan1 -> %s: reachable after %v", ext, target, elapsed.Round(time.Millisecond))

		// Ctrl-C deletes the mapping and exits 0.
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		var rest []string
		timeout = time.After(10 * time.Second)
	drain:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break drain
				}
				rest = append(rest, line)
			case <-timeout:
				t.Fatalf("add --relay did not exit within 10s of SIGINT; said %q", rest)
			}
		}
		err = cmd.Wait()
		exited = true
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == raceExit {
			t.Errorf("add --relay: data race:\n%s", stderr.String())
		}
		if err != nil {
			t.Fatalf("add --relay after SIGINT: %v; want exit 0 (said %q)", err, rest)
		}
		wantOutput(t, "add --relay after SIGINT", strings.Join(rest, "\n"), `"event":"deleted"`)
		wantClosed(t, ctx, lab, "tcp", ext)
	})
}

// readLines sends r's lines to lines and closes it at the end.
func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines <- sc.Text()
	}
}
