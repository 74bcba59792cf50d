//go:build linux

package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// greeter is a TCP server in a lab namespace that tells each client the
// address it sees the client at, so the test can check that a connection
// through the router was DNATed and not SNATed.
type greeter struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startGreeter(t *testing.T, lab *Lab, node Node, addr string) *greeter {
	t.Helper()
	ln, err := lab.Listen(node, addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &greeter{ln: ln}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(g.close)
	return g
}

func (g *greeter) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "hello %s\n", c.RemoteAddr())
		c.Close()
	}
}

func (g *greeter) close() {
	g.ln.Close()
	g.wg.Wait()
}

// dialGreeting connects from node to addr and returns the greeting line.
func dialGreeting(ctx context.Context, lab *Lab, node Node, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := lab.Dial(ctx, node, "tcp", addr) // the literal address picks the family
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	return strings.TrimSpace(line), err
}

// wantRefused checks that nothing is mapped at addr: the router itself
// answers the SYN with a RST.
func wantRefused(t *testing.T, ctx context.Context, lab *Lab, addr string) {
	t.Helper()
	greeting, err := dialGreeting(ctx, lab, WAN, addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect from WAN to %s: got %q, %v; want connection refused", addr, greeting, err)
	}
}

func mustExec(t *testing.T, ctx context.Context, lab *Lab, node Node, argv ...string) string {
	t.Helper()
	out, err := lab.Exec(ctx, node, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantContains(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Fatalf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
}

// TestLabSmoke builds the lab and drives miniupnpd with the stock clients:
// upnpc finds the IGD and the external address, a UPnP mapping makes a LAN
// server reachable from the WAN host, a NAT-PMP mapping does too, and both
// deletions close the ports again. Then the lab is torn down and must leave
// nothing behind.
func TestLabSmoke(t *testing.T) {
	Require(t, "upnpc", "natpmpc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)
	ext := lab.ExternalAddr().String()
	if n := lab.STUNRequests(); n < 4 {
		t.Errorf("STUN responder answered %d requests, want at least 4 (one STUN run)", n)
	}

	// Discovery by SSDP multicast on the LAN, then the description and
	// GetExternalIPAddress.
	out := mustExec(t, ctx, lab, LAN1, "upnpc", "-i", "-l")
	wantContains(t, "upnpc -l", out, "Found valid IGD", "ExternalIPAddress = "+ext, "Local LAN ip address : 192.168.77.10")

	lan1 := lab.Addr(LAN1).String()
	startGreeter(t, lab, LAN1, lan1+":18080")
	startGreeter(t, lab, LAN1, lan1+":18081")
	wantRefused(t, ctx, lab, ext+":18080")

	// UPnP mapping (the description URL is known, so skip the 2 s discovery).
	out = mustExec(t, ctx, lab, LAN1, "upnpc", "-i", "-u", lab.DescURL(), "-e", "test", "-a", lan1, "18080", "18080", "TCP")
	wantContains(t, "upnpc -a", out, "external "+ext+":18080 TCP is redirected to internal "+lan1+":18080")
	greeting, err := dialGreeting(ctx, lab, WAN, ext+":18080")
	if err != nil {
		t.Fatalf("connect from WAN through the UPnP mapping: %v", err)
	}
	if !strings.HasPrefix(greeting, "hello "+lab.Addr(WAN).String()+":") {
		t.Fatalf("LAN server saw %q; want the WAN host's own address (DNAT without SNAT)", greeting)
	}
	out = mustExec(t, ctx, lab, LAN1, "upnpc", "-i", "-u", lab.DescURL(), "-d", "18080", "TCP")
	wantContains(t, "upnpc -d", out, "UPNP_DeletePortMapping() returned : 0")
	wantRefused(t, ctx, lab, ext+":18080")

	// NAT-PMP mapping: natpmpc -a <public> <private> <proto> <lifetime>.
	gw := lab.Gateway().String()
	out = mustExec(t, ctx, lab, LAN1, "natpmpc", "-g", gw, "-a", "18081", "18081", "tcp", "60")
	// (natpmpc 2.2.4 spells it "liftime".)
	wantContains(t, "natpmpc -a", out, "Public IP address : "+ext, "Mapped public port 18081 protocol TCP to local port 18081 liftime 60")
	if _, err := dialGreeting(ctx, lab, WAN, ext+":18081"); err != nil {
		t.Fatalf("connect from WAN through the NAT-PMP mapping: %v", err)
	}
	out = mustExec(t, ctx, lab, LAN1, "natpmpc", "-g", gw, "-a", "18081", "18081", "tcp", "0")
	wantContains(t, "natpmpc delete", out, "Mapped public port 0 protocol TCP to local port 18081 liftime 0") // RFC 6886 §3.4: a delete answers public port 0
	wantRefused(t, ctx, lab, ext+":18081")

	start = time.Now()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab build %v, teardown %v", built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if err := CheckClean(); err != nil {
		t.Fatal(err)
	}
}

// readAnnouncement waits for a NAT-PMP public address announcement (RFC 6886
// §3.2.1: version 0, opcode 128) carrying want on c. Announcements of other
// addresses are passed over: miniupnpd may still send copies for the old
// address (its restart, its interface watcher) while the change goes through.
func readAnnouncement(c *net.UDPConn, want netip.Addr, wait time.Duration) (netip.Addr, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	last := netip.Addr{}
	for i := 0; i < 100; i++ {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return last, err
		}
		if n == 12 && buf[0] == 0 && buf[1] == 128 {
			last = netip.AddrFrom4([4]byte(buf[8:12]))
			if last == want {
				return last, nil
			}
		}
	}
	return last, errors.New("no NAT-PMP announcement of the new address among 100 packets")
}

// TestLabRestartAndAddressChange checks the two events the front door must
// survive: a router reboot (mappings gone, HTTP port moved, new daemon) and a
// WAN address change (new external address reported, announcement sent to
// the LAN, mappings work on the new address).
func TestLabRestartAndAddressChange(t *testing.T) {
	Require(t, "upnpc", "natpmpc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lan1 := lab.Addr(LAN1).String()
	gw := lab.Gateway().String()
	startGreeter(t, lab, LAN1, lan1+":18082")
	mapPMP := func() string {
		t.Helper()
		return mustExec(t, ctx, lab, LAN1, "natpmpc", "-g", gw, "-a", "18082", "18082", "tcp", "3600")
	}
	mapPMP()
	ext := lab.ExternalAddr().String()
	if _, err := dialGreeting(ctx, lab, WAN, ext+":18082"); err != nil {
		t.Fatalf("mapping before the restart: %v", err)
	}

	oldPID, oldPort, oldURL := lab.RouterPID(), lab.HTTPPort(), lab.DescURL()
	start := time.Now()
	if err := lab.RestartRouter(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("RestartRouter took %v", time.Since(start).Round(time.Millisecond))
	if lab.RouterPID() == oldPID || lab.HTTPPort() != oldPort+1 {
		t.Fatalf("after restart: pid %d (was %d), HTTP port %d (was %d); want a new daemon on port %d",
			lab.RouterPID(), oldPID, lab.HTTPPort(), oldPort, oldPort+1)
	}
	wantRefused(t, ctx, lab, ext+":18082")
	out := mustExec(t, ctx, lab, LAN1, "upnpc", "-i", "-u", lab.DescURL(), "-l")
	wantContains(t, "upnpc -l after restart", out, "GetGenericPortMappingEntry() returned 713")
	if out, err := lab.Exec(ctx, LAN1, "upnpc", "-i", "-u", oldURL, "-s"); err == nil {
		t.Fatalf("the old description URL %s still answers:\n%s", oldURL, out)
	}

	// Address change: listen for the announcement on the LAN host.
	ann, err := lab.ListenUDP(LAN1, "0.0.0.0:5350")
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close()
	newAddr := netip.MustParseAddr("1.2.3.5")
	start = time.Now()
	if err := lab.ChangeWANAddr(ctx, newAddr); err != nil {
		t.Fatal(err)
	}
	t.Logf("ChangeWANAddr took %v", time.Since(start).Round(time.Millisecond))
	if got := lab.ExternalAddr(); got != newAddr {
		t.Fatalf("ExternalAddr() = %v, want %v", got, newAddr)
	}
	if got, err := readAnnouncement(ann, newAddr, 3*time.Second); err != nil || got != newAddr {
		t.Fatalf("announcement on the LAN: %v, %v; want %v", got, err, newAddr)
	}
	out = mustExec(t, ctx, lab, LAN1, "upnpc", "-i", "-u", lab.DescURL(), "-s")
	wantContains(t, "upnpc -s after the change", out, "ExternalIPAddress = "+newAddr.String())
	wantContains(t, "natpmpc after the change", mapPMP(), "Public IP address : "+newAddr.String())
	if _, err := dialGreeting(ctx, lab, WAN, newAddr.String()+":18082"); err != nil {
		t.Fatalf("mapping on the new address: %v", err)
	}

	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckClean(); err != nil {
		t.Fatal(err)
	}
}

// TestLabIsolationCheck shows that the build's isolation check can fail: a
// veth from a LAN host into a namespace outside the lab, or an interface of
// another kind, must be reported. (The stray namespace is another lab-prefixed
// one, never the caller's, so nothing here touches the host's network.)
func TestLabIsolationCheck(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.verifyIsolated(ctx); err != nil {
		t.Fatalf("fresh lab: %v", err)
	}
	outside := lab.prefix + "outside"
	if _, err := run(ctx, "", "ip", "netns", "add", outside); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNetns(context.Background(), outside); err != nil {
			t.Error(err)
		}
	})
	lan2 := lab.Netns(LAN2)
	if _, err := run(ctx, "", "ip", "-n", lan2, "link", "add", "leak0", "type", "veth", "peer", "name", "leak1", "netns", outside); err != nil {
		t.Fatal(err)
	}
	if err := lab.verifyIsolated(ctx); err == nil || !strings.Contains(err.Error(), "leak0") {
		t.Fatalf("veth into a foreign namespace: err = %v", err)
	}
	if _, err := run(ctx, "", "ip", "-n", lan2, "link", "del", "leak0"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(ctx, "", "ip", "-n", lan2, "link", "add", "odd0", "type", "ifb"); err != nil {
		t.Fatal(err)
	}
	if err := lab.verifyIsolated(ctx); err == nil || !strings.Contains(err.Error(), "odd0") {
		t.Fatalf("unexpected interface kind: err = %v", err)
	}
	if _, err := run(ctx, "", "ip", "-n", lan2, "link", "del", "odd0"); err != nil {
		t.Fatal(err)
	}
	if err := lab.verifyIsolated(ctx); err != nil {
		t.Fatalf("after removing the strays: %v", err)
	}
}

// TestCleanStale leaves debris as a crashed run would (a lab namespace named
// after a pid that no longer runs, with a process inside, and another
// process that names the namespace and holds it open without being in it,
// as `ip netns exec NAME` does before it joins) and checks that CleanStale
// kills both, deletes the namespace, and can run again; a process that
// holds the namespace open without naming it (another lab's `ip netns
// list-id`) is left alone.
func TestCleanStale(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The debris is named after a process that runs until just before
	// CleanStale, so that a lab test in another process, whose New runs
	// CleanStale too, leaves it alone while it is being set up.
	owner := command(ctx, "sleep", "60")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Process.Kill(); owner.Wait() })
	name := fmt.Sprintf("%s%d-1-rtr", namePrefix, owner.Process.Pid)
	if _, err := run(ctx, "", "ip", "netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNetns(context.Background(), name) })
	ino, err := nsInode(name)
	if err != nil {
		t.Fatal(err)
	}

	inside := startVictim(t, ctx, command(ctx, "ip", "netns", "exec", name, "sleep", "60"))
	// ip netns exec joins the namespace some time after it starts; the
	// debris of a crashed run is in it already, so wait until this is too.
	waitInNetns(t, inside, ino)

	// Two sleeps holding the namespace as their fd 3 from the start; the
	// one on its way in names the namespace (as its argv[0]).
	nsFile, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	entering := command(ctx, "sleep", "60")
	entering.Args[0] = name
	bystander := command(ctx, "sleep", "60")
	entering.ExtraFiles = []*os.File{nsFile}
	bystander.ExtraFiles = []*os.File{nsFile}
	opener := startVictim(t, ctx, entering)
	other := startVictim(t, ctx, bystander)
	nsFile.Close()

	owner.Process.Kill() // the run that made the debris has crashed
	owner.Wait()
	if err := CleanStale(ctx); err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string]*victim{"process in the stale namespace": inside, "process on its way into the stale namespace": opener} {
		select {
		case err := <-v.waited:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("%s: %v, want killed", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s still runs", what)
		}
	}
	select {
	case err := <-other.waited:
		t.Errorf("a process holding the namespace open without naming it ended: %v; want it left alone", err)
	default:
	}
	names, err := listNetns()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == name {
			t.Fatalf("%s still exists", name)
		}
	}
	if err := CleanStale(ctx); err != nil {
		t.Fatalf("second CleanStale: %v", err)
	}
}

// victim is a process TestCleanStale expects CleanStale to kill.
type victim struct {
	pid    int
	waited chan error // Wait's result
}

// startVictim starts cmd and waits for it in the background; a victim that
// survives is killed when the test ends.
func startVictim(t *testing.T, ctx context.Context, cmd *exec.Cmd) *victim {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &victim{pid: cmd.Process.Pid, waited: make(chan error, 1)}
	go waitVictim(cmd, v.waited)
	t.Cleanup(func() { cmd.Process.Kill() })
	return v
}

func waitVictim(cmd *exec.Cmd, waited chan<- error) { waited <- cmd.Wait() }

// waitInNetns waits (bounded) until victim v is in the network namespace
// with inode ino.
func waitInNetns(t *testing.T, v *victim, ino uint64) {
	t.Helper()
	want := fmt.Sprintf("net:[%d]", ino)
	deadline := time.Now().Add(10 * time.Second)
	for {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", v.pid))
		if err == nil && link == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not enter the namespace within 10s (its namespace: %q, %v; want %s)", v.pid, link, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLabCheckCleanCatchesLeftovers checks that CheckClean is not blind: with
// a lab still open it must complain.
func TestLabCheckCleanCatchesLeftovers(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckClean()
	if err == nil || !strings.Contains(err.Error(), lab.Netns(Router)) || !strings.Contains(err.Error(), "miniupnpd pid") {
		t.Fatalf("CheckClean with an open lab: %v", err)
	}
	start := time.Now()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	if err := lab.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := CheckClean(); err != nil {
		t.Fatal(err)
	}
}
