//go:build linux

package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// Lab tests of issue 11: a checker (upnpmap checkd) on the lab's Internet
// side, and upnpmap's check, add --check and run --check on a LAN host
// behind the real miniupnpd.

// newReachLab builds a lab for a reach test, bounded by a minute.
func newReachLab(t *testing.T, opts netlab.Options) (context.Context, *netlab.Lab) {
	t.Helper()
	netlab.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	lab, err := netlab.New(ctx, t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, lab
}

// generous are checkd limits that the functional tests do not reach: every
// lab host shares the router's address, and the default (1/s, burst 5) is
// tested on its own (TestReachCheckerAbuse).
var generous = []string{"--rate", "100", "--burst", "100"}

// TestReachOpen: a checker on the WAN host; from a LAN host, map and check,
// TCP and UDP: open, seen as the router's external address, with the probe
// proven to have reached the host (upnpmap answers it while nothing listens).
// It also times `upnpmap check` in the lab.
func TestReachOpen(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	ck := startCheckd(t, ctx, lab, netlab.WAN, lab.Addr(netlab.WAN), generous...)
	state := t.TempDir()
	ext := lab.ExternalAddr().String()

	for _, tc := range []struct {
		proto string
		port  uint16
		flags []string
	}{{"tcp", 21100, nil}, {"udp", 21101, []string{"--udp"}}} {
		port := strconv.Itoa(int(tc.port))
		args := append([]string{"add", port, "--check", ck.addr.String(), "--json"}, tc.flags...)
		r := mustCLI(t, ctx, lab, netlab.LAN1, state, args...)
		m := decodeOne[cliChecked](t, "add --check", r.stdout)
		if m.Check == nil || !m.Check.Reachable || m.Check.Verdict != "open" {
			t.Fatalf("add %s --check: %+v; want reachable, verdict open", tc.proto, m.Check)
		}
		if m.Check.Observed != ext || m.Check.NAT != "NONE" {
			t.Errorf("add %s --check: seen as %q, NAT %q; want %s, NONE", tc.proto, m.Check.Observed, m.Check.NAT, ext)
		}

		args = append([]string{"check", port, "--checker", ck.addr.String(), "--json"}, tc.flags...)
		r = mustCLI(t, ctx, lab, netlab.LAN1, state, args...)
		c := decodeOne[cliCheck](t, "check", r.stdout)
		if !c.Open || c.IPv4.Verdict != "open" || !c.IPv4.Verified {
			t.Fatalf("check %s: %+v; want open and verified (the probe came back with its nonce)", tc.proto, c)
		}
		if ap, err := netip.ParseAddrPort(c.IPv4.Observed); err != nil || ap.Addr().String() != ext {
			t.Errorf("check %s: observed %q; want %s:PORT", tc.proto, c.IPv4.Observed, ext)
		}
		if c.IPv6.Verdict != "unchecked" {
			t.Errorf("check %s: IPv6 %q; want unchecked (the checker has no IPv6 address)", tc.proto, c.IPv6.Verdict)
		}
	}

	// The time of one `upnpmap check` (process start to exit, the probe
	// answered by upnpmap itself), the median of a few, TCP and UDP.
	const runs = 7
	for _, tc := range []struct {
		proto string
		args  []string
	}{{"TCP", []string{"check", "21100"}}, {"UDP", []string{"check", "21101", "--udp"}}} {
		var times []time.Duration
		for range runs {
			start := time.Now()
			mustCLI(t, ctx, lab, netlab.LAN1, state, append(tc.args, "--checker", ck.addr.String())...)
			times = append(times, time.Since(start))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		t.Logf("one `upnpmap check` in the lab (%s, whole process): median %v, min %v, max %v over %d runs", tc.proto,
			times[runs/2].Round(time.Millisecond), times[0].Round(time.Millisecond), times[runs-1].Round(time.Millisecond), runs)
	}

	st := parseCheckdStats(t, ck.stop(t))
	// 2 add --check + 2 check + the timed ones: one request each (TCP to
	// the checker; a UDP probe is asked for over TCP too).
	if want := 4 + 2*runs; st.requests != want || st.probes != want {
		t.Errorf("checkd served %d requests, %d probes; want %d of each", st.requests, st.probes, want)
	}
}

// TestReachNothingListening: a mapping whose internal port nobody listens
// on is reported as nothing-listening, not as a broken mapping; with
// upnpmap answering the probe, or an application listening, it is open.
func TestReachNothingListening(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	ck := startCheckd(t, ctx, lab, netlab.WAN, lab.Addr(netlab.WAN), generous...)
	state := t.TempDir()
	mustCLI(t, ctx, lab, netlab.LAN1, state, "add", "21110", "--json")

	r := runCLI(t, ctx, lab, netlab.LAN1, state, "check", "21110", "--checker", ck.addr.String(), "--no-answer", "--json")
	c := decodeOne[cliCheck](t, "check --no-answer", r.stdout)
	if r.code != 6 || c.Open || c.IPv4.Verdict != "nothing-listening" {
		t.Fatalf("check --no-answer, nothing listening: exit %d, %+v; want exit 6, nothing-listening", r.code, c)
	}

	r = mustCLI(t, ctx, lab, netlab.LAN1, state, "check", "21110", "--checker", ck.addr.String(), "--json")
	c = decodeOne[cliCheck](t, "check", r.stdout)
	if !c.Open || c.IPv4.Verdict != "open" || !c.IPv4.Verified {
		t.Fatalf("check with upnpmap answering: %+v; want open, verified", c)
	}

	ln, err := lab.Listen(netlab.LAN1, lab.Addr(netlab.LAN1).String()+":21110")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	r = mustCLI(t, ctx, lab, netlab.LAN1, state, "check", "21110", "--checker", ck.addr.String(), "--no-answer", "--json")
	c = decodeOne[cliCheck](t, "check, application listening", r.stdout)
	if !c.Open || c.IPv4.Verdict != "open" || c.IPv4.Verified {
		t.Fatalf("check with an application listening: %+v; want open, not verified (the application does not echo)", c)
	}
}

// runEvents starts `upnpmap run ARGS --json` in node and returns its
// output lines and a stop function (SIGINT, bounded wait, the rest of
// the output).
func runEvents(t *testing.T, ctx context.Context, lab *netlab.Lab, node netlab.Node, state string, args ...string) (<-chan string, func() []string) {
	t.Helper()
	cmd := lab.Cmd(ctx, node, buildCLI(t), append([]string{"run"}, append(args, "--json")...)...)
	cmd.Env = cliEnv(state)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go readLines(out, lines)
	var rest []string
	stopped := false
	stop := func() []string {
		if stopped {
			return rest
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		timeout := time.After(runStopWait)
	drain:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break drain
				}
				rest = append(rest, line)
			case <-timeout:
				cmd.Process.Kill()
				t.Errorf("run did not stop within %v of SIGINT", runStopWait)
				break drain
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("run after SIGINT: %v; stderr:\n%s", err, stderr.String())
		}
		if t.Failed() {
			t.Logf("run stderr:\n%s", indent(stderr.String()))
		}
		return rest
	}
	t.Cleanup(func() { stop() })
	return lines, stop
}

// runStopWait bounds run's exit after SIGINT (it deletes its mappings).
const runStopWait = 15 * time.Second

// waitEvent reads run's lines until one has event want, within d. Every
// line is logged and kept in seen.
func waitEvent(t *testing.T, lines <-chan string, seen *[]cliChecked, want string, d time.Duration) cliChecked {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("run ended while waiting for %q; saw %+v", want, *seen)
			}
			t.Logf("run: %s", line)
			m := decodeOne[cliChecked](t, "run --json", line)
			*seen = append(*seen, m)
			if m.Event == want {
				return m
			}
		case <-timeout:
			t.Fatalf("run: no %q event within %v; saw %+v", want, d, *seen)
		}
	}
}

// TestReachBrokenForwardHeals: `run --check --check-every 2s` with an
// application listening. The router's forward is then broken (the mapping
// still listed, its traffic dropped in the forward path): run reports
// unreachable within one interval and heals by deleting and re-creating
// the mapping, which gives the router a fresh forward.
func TestReachBrokenForwardHeals(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	ck := startCheckd(t, ctx, lab, netlab.WAN, lab.Addr(netlab.WAN), generous...)
	ln, err := lab.Listen(netlab.LAN1, lab.Addr(netlab.LAN1).String()+":21120")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)

	const every = 2 * time.Second
	lines, stop := runEvents(t, ctx, lab, netlab.LAN1, t.TempDir(),
		"--map", "21120", "--method", "upnp", "--check", ck.addr.String(), "--check-every", every.String())
	var seen []cliChecked
	waitEvent(t, lines, &seen, "mapped", 20*time.Second)
	waitEvent(t, lines, &seen, "verified", 20*time.Second)

	brk, err := lab.BreakForward(ctx, "tcp", 21120)
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Remove(ctx)
	broken := time.Now()
	// One interval, plus the probe that must time out (the checker's
	// default probe timeout, 3 s), plus slack for two busy cores.
	u := waitEvent(t, lines, &seen, "unreachable", every+3*time.Second+5*time.Second)
	t.Logf("unreachable reported %v after the forward broke (interval %v)", time.Since(broken).Round(time.Millisecond), every)
	if !strings.Contains(u.Error, "filtered") {
		t.Errorf("unreachable: error %q; want the probe filtered", u.Error)
	}
	if n, err := brk.Dropped(ctx); err != nil || n == 0 {
		t.Fatalf("the broken forward dropped %d packets (%v); want the checker's probe among them", n, err)
	}
	// The heal: delete, re-create, and one more check.
	waitEvent(t, lines, &seen, "healed", 15*time.Second)

	// The router lists the mapping, and the Internet gets through.
	fw, err := lab.Forwards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tcp 21120 -> %v:21120", lab.Addr(netlab.LAN1))
	if len(fw) != 1 || fw[0].String() != want {
		t.Fatalf("router forwards after the heal: %v; want [%s]", fw, want)
	}
	c, err := lab.Dial(ctx, netlab.WAN, "tcp4", lab.ExternalAddr().String()+":21120")
	if err != nil {
		t.Fatalf("WAN -> %v:21120 after the heal: %v", lab.ExternalAddr(), err)
	}
	c.Close()
	if err := brk.Remove(ctx); err != nil {
		t.Fatal(err)
	}

	rest := stop()
	if !strings.Contains(strings.Join(rest, "\n"), `"event":"deleted"`) {
		t.Errorf("run after SIGINT said %q; want the mapping deleted", rest)
	}
	for _, m := range seen {
		if m.Event == "lost" || m.Event == "failed" {
			t.Errorf("run reported %q during the break: %+v", m.Event, m)
		}
	}
	st := parseCheckdStats(t, ck.stop(t))
	t.Logf("checker: %+v", st)
}

// TestReachDropNotHealed: a drop in front of the mapping that no
// re-creation cures. run --check reports unreachable once, tries one heal
// (one delete, one re-create), and then neither repeats the report nor
// touches the router at each check; once the drop is removed, the next
// check finds the mapping open again.
func TestReachDropNotHealed(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	ck := startCheckd(t, ctx, lab, netlab.WAN, lab.Addr(netlab.WAN), generous...)
	// The checks run does, counted where the checker is: one connection
	// (one SYN) from the router's address per check.
	wanNFT(t, ctx, lab, fmt.Sprintf(`table ip reachtest {
	counter checks {}
	chain input { type filter hook input priority -300; ip saddr %v tcp dport %d tcp flags & (syn | ack) == syn counter name checks; }
}
`, lab.ExternalAddr(), ck.addr.Port()))
	ln, err := lab.Listen(netlab.LAN1, lab.Addr(netlab.LAN1).String()+":21150")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)

	const every = 2 * time.Second
	lines, stop := runEvents(t, ctx, lab, netlab.LAN1, t.TempDir(),
		"--map", "21150", "--method", "upnp", "--check", ck.addr.String(), "--check-every", every.String())
	var seen []cliChecked
	waitEvent(t, lines, &seen, "mapped", 20*time.Second)
	waitEvent(t, lines, &seen, "verified", 20*time.Second)

	drop, err := lab.DropInbound(ctx, "tcp", 21150)
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Remove(ctx)
	waitEvent(t, lines, &seen, "unreachable", every+3*time.Second+5*time.Second)
	after := len(seen)
	// Wait for two more checks to have finished (a third to have begun).
	from, _ := wanCounter(t, ctx, lab, "checks")
	deadline := time.Now().Add(3 * (every + 3*time.Second + 5*time.Second))
	for {
		n, _ := wanCounter(t, ctx, lab, "checks")
		if n >= from+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run made %d checks after the unreachable one; want 3 within the bound", n-from)
		}
		time.Sleep(200 * time.Millisecond)
	}
drain:
	for {
		select {
		case line := <-lines:
			t.Logf("run: %s", line)
			seen = append(seen, decodeOne[cliChecked](t, "run --json", line))
		default:
			break drain
		}
	}
	for _, m := range seen[after:] {
		t.Errorf("run reported %q again during the same unreachable spell; want one report", m.Event)
	}
	// One heal: the mapping deleted once (and re-created), no more.
	if n := strings.Count(lab.Log(), "#DeletePortMapping"); n != 1 {
		t.Errorf("the router saw %d DeletePortMapping; want 1 (one heal per spell)", n)
	}

	if err := drop.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, lines, &seen, "verified", every+3*time.Second+5*time.Second)
	rest := stop()
	if !strings.Contains(strings.Join(rest, "\n"), `"event":"deleted"`) {
		t.Errorf("run after SIGINT said %q; want the mapping deleted", rest)
	}
}

// TestReachUpstreamNAT: a second NAT between the router and the checker
// (an ISP's). The checker sees the NAT's address, not the router's
// external one: add --check reports UPSTREAM_NAT and exits 6.
func TestReachUpstreamNAT(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	if err := lab.AddUpstreamNAT(ctx, t); err != nil {
		t.Fatal(err)
	}
	ck := startCheckd(t, ctx, lab, netlab.Internet, lab.InternetAddr(), generous...)
	r := runCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "add", "21130", "--check", ck.addr.String(), "--json")
	m := decodeOne[cliChecked](t, "add --check", r.stdout)
	if r.code != 6 || m.Check == nil {
		t.Fatalf("add --check behind an upstream NAT: exit %d, %+v; want exit 6 and a check", r.code, m)
	}
	if m.Check.NAT != "UPSTREAM_NAT" || m.Check.Reachable || m.Check.Observed != lab.UpstreamNATAddr().String() {
		t.Fatalf("add --check behind an upstream NAT: %+v; want UPSTREAM_NAT, not reachable, seen as %v", *m.Check, lab.UpstreamNATAddr())
	}
	if m.Check.Healed {
		t.Errorf("add --check healed a mapping behind an upstream NAT; no re-creation can help there")
	}
	// upnpmap held the port itself, so the refusal means the probe never
	// got here: refused, not "nothing listening" (which would send the
	// user to start an application that is not the problem).
	if m.Check.Verdict != "refused" {
		t.Errorf("add --check behind an upstream NAT: verdict %q, want refused", m.Check.Verdict)
	}

	// The same comparison without a mapping: doctor asks the checker (as a
	// STUN server) which address it sees.
	d, code := doctorCompare(t, ctx, lab, ck.addr.String())
	if code != 7 || d.PortCanWork {
		t.Errorf("doctor --checker behind an upstream NAT: exit %d, port_can_work %v; want exit 7, false", code, d.PortCanWork)
	}
	if d.NAT != "UPSTREAM_NAT" || d.Observed != lab.UpstreamNATAddr().String() || d.External != lab.ExternalAddr().String() {
		t.Fatalf("doctor --checker behind an upstream NAT: nat %q, observed %q, external %q; want UPSTREAM_NAT, %v, %v",
			d.NAT, d.Observed, d.External, lab.UpstreamNATAddr(), lab.ExternalAddr())
	}
	if _, ok := d.finding("UPSTREAM_NAT"); !ok {
		t.Errorf("doctor --checker behind an upstream NAT: findings %+v; want UPSTREAM_NAT", d.Findings)
	}
}

// TestReachCompareAnySTUNServer: the comparison behind UPSTREAM_NAT works
// with any STUN server the user names, not only upnpmap checkd. Here it is
// the lab's own STUN responder (netlab's, the one miniupnpd asks), which
// sees the router's external address: nothing upstream, and no warning.
func TestReachCompareAnySTUNServer(t *testing.T) {
	ctx, lab := newReachLab(t, netlab.Options{})
	before := lab.STUNRequests()
	d, code := doctorCompare(t, ctx, lab, lab.STUNAddr().String())
	if n := lab.STUNRequests() - before; n < 1 {
		t.Fatalf("doctor --checker %v: the STUN server got %d requests; want at least 1", lab.STUNAddr(), n)
	}
	if d.Observed != lab.ExternalAddr().String() || d.External != lab.ExternalAddr().String() {
		t.Fatalf("doctor --checker %v: observed %q, external %q; want both %v", lab.STUNAddr(), d.Observed, d.External, lab.ExternalAddr())
	}
	if d.NAT != "OK" || code != 0 || !d.PortCanWork {
		t.Errorf("doctor --checker %v: nat %q, exit %d, port_can_work %v; want OK, 0, true", lab.STUNAddr(), d.NAT, code, d.PortCanWork)
	}
	for _, code := range []string{"UPSTREAM_NAT", "CHECKER_FAILED", "CHECKER_OTHER_FAMILY"} {
		if what, ok := d.finding(code); ok {
			t.Errorf("doctor --checker %v: finding %s (%s)", lab.STUNAddr(), code, what)
		}
	}
}

// doctorCompared is the part of `doctor --json` the comparison fills.
type doctorCompared struct {
	doctorJSON
	External string `json:"external"`
	Observed string `json:"observed"`
}

// doctorCompare runs `upnpmap doctor PORT --checker CHECKER --json` on a LAN
// host, with an application listening on PORT so that only the network
// decides the outcome, and returns its report and exit status.
func doctorCompare(t *testing.T, ctx context.Context, lab *netlab.Lab, checker string) (doctorCompared, int) {
	t.Helper()
	const port = 21132
	ln, err := lab.Listen(netlab.LAN1, netip.AddrPortFrom(lab.Addr(netlab.LAN1), port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAll(ln)
	r := runCLI(t, ctx, lab, netlab.LAN1, t.TempDir(), "doctor", strconv.Itoa(port), "--checker", checker, "--json")
	var d doctorCompared
	if err := jsonUnmarshal(r.stdout, &d); err != nil {
		t.Fatalf("doctor --checker %s --json: exit %d, not one JSON object: %v", checker, r.code, err)
	}
	return d, r.code
}
