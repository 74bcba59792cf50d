//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Lab is a running lab: four network namespaces, miniupnpd in the router, and
// a STUN responder on the WAN host. All methods are safe for concurrent use.
type Lab struct {
	opts   Options
	prefix string
	ns     map[Node]string
	dir    string
	sink   *logSink
	stun   *stunServer
	isp    *ispRouter // nil unless Options.Nested

	created bool // namespaces exist (set during build, read by Close)

	mu       sync.Mutex // guards what follows and serialises router changes
	daemon   *daemon
	wanAddr  netip.Addr
	httpPort uint16
	restarts int

	closeOnce sync.Once
	closeErr  error
}

// New builds a lab, waits until miniupnpd is ready (STUN done, sockets open)
// and registers Close with t.Cleanup; when the test has failed by then, the
// router log is printed first. On error everything built so far is torn down
// and the error carries the end of the router log.
//
// New needs Linux, root, and the ip, nft, sysctl and miniupnpd commands; see
// Available and Require.
func New(ctx context.Context, t testing.TB, opts Options) (*Lab, error) {
	t.Helper()
	if err := Available(); err != nil {
		return nil, err
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.BuildTimeout)
	defer cancel()
	if err := CleanStale(ctx); err != nil {
		return nil, err
	}
	if err := takeBaseline(ctx); err != nil {
		return nil, err
	}

	l := &Lab{
		opts:     opts,
		prefix:   nextPrefix(),
		ns:       map[Node]string{},
		dir:      t.TempDir(),
		wanAddr:  opts.WANAddr,
		httpPort: opts.HTTPPort,
	}
	if opts.Nested {
		l.wanAddr = newMiddleNet(opts.ISP.CGNAT).home
	}
	for _, n := range l.nodeList() {
		l.ns[n] = l.prefix + string(n)
	}
	sink, err := newLogSink(filepath.Join(l.dir, "miniupnpd.log"))
	if err != nil {
		return nil, err
	}
	l.sink = sink
	if opts.Nested {
		l.isp, err = newISPRouter(l.ns[ISP], l.dir, opts.ISP.HTTPPort, newMiddleNet(opts.ISP.CGNAT))
		if err != nil {
			sink.Close()
			return nil, err
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("netlab: router log (%s):\n%s", l.LogPath(), compactLog(l.Log(), failureLogLines))
			if l.isp != nil {
				t.Logf("netlab: ISP router log (%s):\n%s", l.ISPLogPath(), compactLog(l.ISPLog(), failureLogLines))
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("netlab: Close: %v", err)
		}
	})
	if err := l.build(ctx); err != nil {
		tail := l.sink.tail(40)
		if l.isp != nil {
			if t := l.isp.sink.tail(20); t != "" {
				tail += "\nISP router log (last lines):\n" + t
			}
		}
		l.Close()
		if tail != "" {
			return nil, fmt.Errorf("%w\nrouter log (last lines):\n%s", err, tail)
		}
		return nil, err
	}
	return l, nil
}

// build does New's work after the bookkeeping.
func (l *Lab) build(ctx context.Context) error {
	if err := l.buildTopology(ctx); err != nil {
		return err
	}
	if err := l.verifyIsolated(ctx); err != nil {
		return err
	}
	conns, err := listenSTUN(func(ap netip.AddrPort) (*net.UDPConn, error) {
		return l.listenUDP(WAN, ap)
	}, wanHost, stunAlt, stunPort, stunAltPort)
	if err != nil {
		return err
	}
	l.stun = newSTUNServer(conns)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isp != nil {
		if err := l.startISP(ctx); err != nil {
			return err
		}
	}
	return l.startRouter(ctx)
}

// nodeList is the lab's nodes in build order.
func (l *Lab) nodeList() []Node {
	if l.opts.Nested {
		return nestedNodes[:]
	}
	return nodes[:]
}

// startRouter writes the config for the current HTTP port, starts miniupnpd
// and waits until it is ready. l.mu is held.
func (l *Lab) startRouter(ctx context.Context) error {
	rc := routerConfig{
		opts:     l.opts,
		wanIf:    routerWANIf,
		lanIf:    routerLANIf,
		httpPort: l.httpPort,
		stunHost: wanHost.String(),
		stunPort: stunPort,
		lanNet:   lanNet.String(),
	}
	if l.isp != nil {
		rc.stunHost = l.isp.mid.isp.String() // the responder that sees the home router's real address
	}
	d, err := startMiniupnpd(ctx, l.ns[Router], l.dir, "", rc, l.sink,
		fmt.Sprintf("run %d, HTTP port %d, WAN %v", l.restarts+1, l.httpPort, l.wanAddr))
	if d != nil {
		l.daemon = d
	}
	return err
}

// startMiniupnpd writes the config rc into dir (file names starting with
// prefix), starts miniupnpd in ns with its output to sink and waits until
// it is ready: STUN done, forwarding enabled, sockets open. The daemon is
// returned whenever it was started, also with an error, so that the caller
// can stop it.
func startMiniupnpd(ctx context.Context, ns, dir, prefix string, rc routerConfig, sink *logSink, what string) (*daemon, error) {
	conf := filepath.Join(dir, prefix+"miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(miniupnpdConf(rc)), 0o644); err != nil {
		return nil, fmt.Errorf("netlab: write config: %w", err)
	}
	pidFile := filepath.Join(dir, prefix+"miniupnpd.pid")
	os.Remove(pidFile) // a stale pid file could make it think it is running already
	from := sink.offset()
	sink.mark("starting miniupnpd (%s)", what)
	d, err := startDaemon(ns, conf, pidFile, sink)
	if err != nil {
		return nil, err
	}
	ready := "HTTP listening on port"
	if !rc.opts.DisableNATPMP {
		ready = "Listening for NAT-PMP/PCP traffic on port"
	}
	if _, _, err := sink.waitFor(ctx, d.exited, from, ready); err != nil {
		return d, err
	}
	// STUN ran before the sockets were opened; it must have found an
	// unfiltered public address, or every mapping would be refused.
	if log := sink.since(from); !strings.Contains(log, "Port forwarding is now enabled") {
		return d, errors.New("netlab: miniupnpd did not enable port forwarding after STUN")
	}
	return d, nil
}

// Close stops miniupnpd and the STUN responder, kills whatever still runs in
// the lab namespaces, and deletes them, which removes their links, bridge and
// nft tables. It is idempotent and also works on a half-built lab. New
// registers it with t.Cleanup.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.teardown() })
	return l.closeErr
}

func (l *Lab) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	l.mu.Lock()
	if l.daemon != nil {
		l.sink.mark("stopping miniupnpd (Close)")
		errs = append(errs, l.daemon.stop(stopGrace))
		l.daemon = nil
	}
	if l.isp != nil {
		errs = append(errs, l.isp.stopLocked())
	}
	l.mu.Unlock()
	if l.stun != nil {
		errs = append(errs, l.stun.Close())
	}
	if l.isp != nil {
		errs = append(errs, l.isp.closeSTUN())
	}
	if l.created {
		for _, n := range l.nodeList() {
			errs = append(errs, deleteNetns(ctx, l.ns[n]))
		}
	}
	if l.sink != nil {
		errs = append(errs, l.sink.Close())
	}
	if l.isp != nil {
		errs = append(errs, l.isp.sink.Close())
	}
	return errors.Join(errs...)
}

// RestartRouter simulates a router reboot: miniupnpd is stopped, its nft
// chains are flushed (all mappings are lost), and it starts again on the next
// HTTP port, with a new boot id and a new NAT-PMP/PCP epoch. It returns when
// the new daemon is ready.
func (l *Lab) RestartRouter(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daemon == nil {
		return errors.New("netlab: RestartRouter: lab is closed")
	}
	if l.httpPort == 65535 {
		return errors.New("netlab: RestartRouter: out of HTTP ports")
	}
	l.sink.mark("stopping miniupnpd (RestartRouter)")
	if err := l.daemon.stop(stopGrace); err != nil {
		return err
	}
	l.daemon = nil
	if _, err := run(ctx, nftFlushMiniupnpd(), "ip", "netns", "exec", l.ns[Router], "nft", "-f", "-"); err != nil {
		return err
	}
	l.restarts++
	l.httpPort++
	return l.startRouter(ctx)
}

// KillRouter stops miniupnpd at once with SIGKILL, as a power cut would,
// and leaves it stopped; Close then has no daemon left to stop. It is for
// tests that leave the daemon busy: a NAT-PMP or PCP request for a denied
// port keeps miniupnpd 2.3.1 walking every external port for about 45 s,
// deaf to SIGTERM, so Close's polite stop would fail.
func (l *Lab) KillRouter() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daemon == nil {
		return nil
	}
	l.sink.mark("killing miniupnpd (KillRouter)")
	err := l.daemon.kill(killGrace)
	l.daemon = nil
	return err
}

// killGrace bounds how long KillRouter waits for a SIGKILLed miniupnpd.
const killGrace = 2 * time.Second

// stopGrace is how long a polite stop (SIGTERM) of miniupnpd may take
// before SIGKILL.
const stopGrace = 2 * time.Second

// ChangeWANAddr gives the router a new WAN address, as an ISP does: the
// address on the WAN link is replaced; miniupnpd notices (netlink) and re-runs
// STUN, whose answer is the new address; then it gets SIGUSR1 and does it
// again. Each run sends the NAT-PMP and PCP announcements, so clients see more
// than one. It returns once miniupnpd reports the new address. Mappings stay
// in place (the DNAT rules do not name the address).
func (l *Lab) ChangeWANAddr(ctx context.Context, addr netip.Addr) error {
	addr = addr.Unmap()
	if l.isp != nil {
		return errors.New("netlab: ChangeWANAddr: not in a nested lab")
	}
	if err := checkWANAddr(addr); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daemon == nil {
		return errors.New("netlab: ChangeWANAddr: lab is closed")
	}
	if addr == l.wanAddr {
		return fmt.Errorf("netlab: ChangeWANAddr: the WAN address is %v already", addr)
	}
	bits := wanNet.Bits()
	from := l.sink.offset()
	l.sink.mark("WAN address %v -> %v", l.wanAddr, addr)
	// Delete first, as a DHCP client does: with the kernel's default
	// promote_secondaries=0, deleting the old primary address after adding
	// the new one would take the new one with it.
	if err := ipBatch(ctx, l.ns[Router],
		fmt.Sprintf("address del %s dev %s", netip.PrefixFrom(l.wanAddr, bits), routerWANIf),
		fmt.Sprintf("address add %s dev %s", netip.PrefixFrom(addr, bits), routerWANIf),
		fmt.Sprintf("route replace default via %s", wanHost),
	); err != nil {
		return err
	}
	l.wanAddr = addr
	// miniupnpd's netlink watcher sees the change and re-runs STUN by itself;
	// wait for a run that got the new address, so the SIGUSR1 below is not
	// folded into a run that still saw the old state.
	want := "MAPPED-ADDRESS " + addr.String() + ":"
	_, at, err := l.sink.waitFor(ctx, l.daemon.exited, from, want)
	if err == nil {
		_, _, err = l.sink.waitFor(ctx, l.daemon.exited, at, stunRunEnds...)
	}
	if err != nil {
		return err
	}
	// SIGUSR1 is how a router learns of a change its WAN interface does not
	// show (an upstream modem's address); it re-runs STUN and re-sends the
	// NAT-PMP and PCP announcements.
	for attempt := 1; ; attempt++ {
		from = l.sink.offset()
		l.sink.mark("SIGUSR1 (attempt %d)", attempt)
		if err := l.daemon.signal(syscall.SIGUSR1); err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, signalWait)
		_, at, err = l.sink.waitFor(wctx, l.daemon.exited, from, "should send external iface address change notification")
		wcancel()
		if err == nil {
			_, _, err = l.sink.waitFor(ctx, l.daemon.exited, at, stunRunEnds...)
			return err
		}
		// miniupnpd's handler only sets a flag; a signal that lands between
		// its loop check and select() is not seen until select times out
		// (the notify interval). Another signal interrupts the select.
		if ctx.Err() != nil || attempt == maxSignals {
			return fmt.Errorf("netlab: miniupnpd did not act on SIGUSR1: %w", err)
		}
	}
}

const (
	// opTimeout caps RestartRouter and ChangeWANAddr when ctx has a later
	// deadline or none. A STUN run in the lab takes tens of milliseconds.
	opTimeout = 15 * time.Second
	// signalWait is how long ChangeWANAddr waits for miniupnpd to start
	// acting on a SIGUSR1 before sending another, up to maxSignals times.
	signalWait = 200 * time.Millisecond
	maxSignals = 10
)

// stunRunEnds are the log lines that end one STUN run of miniupnpd 2.3.1.
var stunRunEnds = []string{
	"STUN: ... done",
	"Port forwarding is now",
	"Performing STUN failed",
	"STUN: Cannot get IP address",
	"STUN: Function inet_ntop",
}

// Netns returns the namespace name of node, for commands the lab does not
// wrap (`ip netns exec <name> ...`, `ip -n <name> ...`).
func (l *Lab) Netns(node Node) string {
	ns, _ := l.netns(node)
	return ns
}

func (l *Lab) netns(node Node) (string, error) {
	ns, ok := l.ns[node]
	if !ok {
		return "", fmt.Errorf("netlab: unknown node %q", node)
	}
	return ns, nil
}

// Addr is node's address: the WAN host's primary address, the router's LAN
// address, a LAN host's address, or (nested lab) the ISP router's LAN
// address. For the router's WAN address use ExternalAddr.
func (l *Lab) Addr(node Node) netip.Addr {
	switch node {
	case WAN:
		return wanHost
	case Router:
		return routerLAN
	case LAN1:
		return lan1Addr
	case LAN2:
		return lan2Addr
	case ISP:
		if l.isp != nil {
			return l.isp.mid.isp
		}
	}
	return netip.Addr{}
}

// Gateway is the router's LAN address (192.168.77.1): where NAT-PMP and PCP
// requests go, and the LAN hosts' default gateway.
func (l *Lab) Gateway() netip.Addr { return routerLAN }

// LANPrefix is the LAN, 192.168.77.0/24.
func (l *Lab) LANPrefix() netip.Prefix { return lanNet }

// WANPrefix is the WAN link, 1.2.3.0/24.
func (l *Lab) WANPrefix() netip.Prefix { return wanNet }

// ExternalAddr is the router's current WAN address, which is also what
// miniupnpd reports as the external address (it learns it by STUN). In a
// nested lab it is the home router's, 10.77.0.2; see ISPExternalAddr.
func (l *Lab) ExternalAddr() netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wanAddr
}

// HTTPPort is the current miniupnpd HTTP port.
func (l *Lab) HTTPPort() uint16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.httpPort
}

// DescURL is the current root description URL, as SSDP announces it.
func (l *Lab) DescURL() string {
	return fmt.Sprintf("http://%s/rootDesc.xml", netip.AddrPortFrom(routerLAN, l.HTTPPort()))
}

// RouterPID is the pid of the running miniupnpd, 0 when none runs.
func (l *Lab) RouterPID() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.daemon == nil {
		return 0
	}
	return l.daemon.pid
}

// STUNAddr is the STUN responder's primary address (the ext_stun_host/port).
func (l *Lab) STUNAddr() netip.AddrPort { return netip.AddrPortFrom(wanHost, stunPort) }

// STUNRequests counts the STUN Binding Requests answered so far (miniupnpd
// sends four per STUN run).
func (l *Lab) STUNRequests() int64 {
	if l.stun == nil {
		return 0
	}
	return l.stun.Requests()
}

// Log returns miniupnpd's output (all runs), interleaved with netlab's own
// "netlab: ..." lines for starts, stops, signals and address changes.
func (l *Lab) Log() string { return l.sink.String() }

// WaitForLog waits until the router log (all runs) contains s, or ctx
// ends. The daemon's output reaches the log through a pipe, so a line
// about a request may arrive a little after the client got its answer;
// tests that read the log wait for what they expect with this first.
func (l *Lab) WaitForLog(ctx context.Context, s string) error {
	_, _, err := l.sink.waitFor(ctx, nil, 0, s)
	return err
}

// LogPath is the file the router log is also written to (in t.TempDir).
func (l *Lab) LogPath() string { return filepath.Join(l.dir, "miniupnpd.log") }

// ConfigPath is miniupnpd.conf as written for the current run.
func (l *Lab) ConfigPath() string { return filepath.Join(l.dir, "miniupnpd.conf") }
