//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
)

// ispRouter is the second miniupnpd of a nested lab (Options.Nested), in
// the ISP namespace, with its own log, and the STUN responder that the
// home router asks. Its mutable fields are guarded by Lab.mu.
type ispRouter struct {
	ns   string
	dir  string
	mid  middleNet // the network between the routers
	sink *logSink
	stun *stunServer // answers the home router, on the ISP router's LAN

	daemon   *daemon
	httpPort uint16
	restarts int
	closed   bool
}

func newISPRouter(ns, dir string, httpPort uint16, mid middleNet) (*ispRouter, error) {
	sink, err := newLogSink(filepath.Join(dir, ispFilePrefix+"miniupnpd.log"))
	if err != nil {
		return nil, err
	}
	return &ispRouter{ns: ns, dir: dir, mid: mid, sink: sink, httpPort: httpPort}, nil
}

// ispFilePrefix starts the names of the ISP router's files in the lab dir.
const ispFilePrefix = "isp-"

// startISP starts the ISP router's STUN responder (once) and its
// miniupnpd, and waits until the daemon is ready. l.mu is held.
//
// The responder listens on the ISP router's LAN address, where it sees the
// home router's requests come from its real WAN address (10.77.0.2); its
// alternate address is the ISP router's WAN address, also local to the ISP
// namespace and reachable from the home router through its default route.
// miniupnpd 2.3.1 adopts the mapped address once all four of its requests
// are answered with it, and then forwards although 10.77.0.2 is reserved.
func (l *Lab) startISP(ctx context.Context) error {
	isp := l.isp
	if isp.stun == nil {
		conns, err := listenSTUN(func(ap netip.AddrPort) (*net.UDPConn, error) {
			return l.listenUDP(ISP, ap)
		}, isp.mid.isp, l.opts.WANAddr, stunPort, stunAltPort)
		if err != nil {
			return err
		}
		isp.stun = newSTUNServer(conns)
	}
	rc := routerConfig{
		opts:     l.opts.ISP.routerOptions(),
		wanIf:    routerWANIf,
		lanIf:    ispLANIf,
		httpPort: isp.httpPort,
		stunHost: wanHost.String(),
		stunPort: stunPort,
		lanNet:   isp.mid.prefix.String(),
		uuid:     ispUUID,
		name:     "upnpmap lab ISP router",
	}
	d, err := startMiniupnpd(ctx, isp.ns, isp.dir, ispFilePrefix, rc, isp.sink,
		fmt.Sprintf("ISP router, run %d, HTTP port %d, WAN %v", isp.restarts+1, isp.httpPort, l.opts.WANAddr))
	if d != nil {
		isp.daemon = d
	}
	return err
}

// stopLocked stops the ISP router's daemon for Close. l.mu is held.
func (isp *ispRouter) stopLocked() error {
	isp.closed = true
	if isp.daemon == nil {
		return nil
	}
	isp.sink.mark("stopping miniupnpd (Close)")
	err := isp.daemon.stop(stopGrace)
	isp.daemon = nil
	return err
}

// closeSTUN stops the ISP router's STUN responder.
func (isp *ispRouter) closeSTUN() error {
	if isp.stun == nil {
		return nil
	}
	return isp.stun.Close()
}

// nestedOnly returns the ISP router, or an error naming op when the lab is
// not nested.
func (l *Lab) nestedOnly(op string) (*ispRouter, error) {
	if l.isp == nil {
		return nil, fmt.Errorf("netlab: %s: the lab is not nested (Options.Nested)", op)
	}
	return l.isp, nil
}

// Nested reports whether the lab has an ISP router (Options.Nested).
func (l *Lab) Nested() bool { return l.isp != nil }

// ISPGateway is the ISP router's LAN address, 10.77.0.1 (100.64.77.1 with
// ISPOptions.CGNAT), in a nested lab: the upstream router as the home
// router's WAN side sees it (what a client names as its upstream gateway).
// The zero Addr when not nested.
func (l *Lab) ISPGateway() netip.Addr {
	if l.isp == nil {
		return netip.Addr{}
	}
	return l.isp.mid.isp
}

// ISPExternalAddr is the ISP router's WAN address (Options.WANAddr,
// default 1.2.3.4) in a nested lab: the outermost external address, the
// one the WAN host reaches a chained mapping at. The zero Addr when not
// nested.
func (l *Lab) ISPExternalAddr() netip.Addr {
	if l.isp == nil {
		return netip.Addr{}
	}
	return l.opts.WANAddr
}

// ISPPrefix is the network between the two routers, 10.77.0.0/24 (or
// 100.64.77.0/24); the zero Prefix when not nested.
func (l *Lab) ISPPrefix() netip.Prefix {
	if l.isp == nil {
		return netip.Prefix{}
	}
	return l.isp.mid.prefix
}

// ISPHTTPPort is the ISP router's current HTTP port (0 when not nested).
func (l *Lab) ISPHTTPPort() uint16 {
	if l.isp == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isp.httpPort
}

// ISPDescURL is the ISP router's current root description URL.
func (l *Lab) ISPDescURL() string {
	return fmt.Sprintf("http://%s/rootDesc.xml", netip.AddrPortFrom(l.ISPGateway(), l.ISPHTTPPort()))
}

// ISPForwards lists the DNAT rules of the ISP router's miniupnpd, as
// Forwards does for the home router's.
func (l *Lab) ISPForwards(ctx context.Context) ([]Forward, error) {
	isp, err := l.nestedOnly("ISPForwards")
	if err != nil {
		return nil, err
	}
	return forwardsIn(ctx, isp.ns)
}

// ISPLog is the ISP router's miniupnpd output with netlab's marker lines
// ("" when not nested).
func (l *Lab) ISPLog() string {
	if l.isp == nil {
		return ""
	}
	return l.isp.sink.String()
}

// ISPLogPath is the file the ISP router's log is also written to.
func (l *Lab) ISPLogPath() string {
	return filepath.Join(l.dir, ispFilePrefix+"miniupnpd.log")
}

// WaitForISPLog waits until the ISP router's log contains s, or ctx ends.
func (l *Lab) WaitForISPLog(ctx context.Context, s string) error {
	isp, err := l.nestedOnly("WaitForISPLog")
	if err != nil {
		return err
	}
	_, _, err = isp.sink.waitFor(ctx, nil, 0, s)
	return err
}

// ISPRouterPID is the pid of the ISP router's miniupnpd, 0 when none runs.
func (l *Lab) ISPRouterPID() int {
	if l.isp == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isp.daemon == nil {
		return 0
	}
	return l.isp.daemon.pid
}

// ISPSTUNRequests counts the STUN requests the home router's responder
// answered (four per STUN run of the home router).
func (l *Lab) ISPSTUNRequests() int64 {
	if l.isp == nil || l.isp.stun == nil {
		return 0
	}
	return l.isp.stun.Requests()
}

// KillISPRouter stops the ISP router's miniupnpd at once (SIGKILL) and
// leaves it stopped: the upstream router goes silent (NAT-PMP, PCP and
// HTTP closed) while it keeps forwarding, its DNAT rules still in place.
// RestartISPRouter starts it again.
func (l *Lab) KillISPRouter() error {
	isp, err := l.nestedOnly("KillISPRouter")
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if isp.daemon == nil {
		return nil
	}
	isp.sink.mark("killing miniupnpd (KillISPRouter)")
	err = isp.daemon.kill(killGrace)
	isp.daemon = nil
	return err
}

// RestartISPRouter simulates a reboot of the ISP router, as RestartRouter
// does for the home router: its miniupnpd stops (if it runs), its nft
// chains are flushed (every mapping on it is lost), and it starts again on
// the next HTTP port with a new epoch. It returns when the daemon is ready.
func (l *Lab) RestartISPRouter(ctx context.Context) error {
	isp, err := l.nestedOnly("RestartISPRouter")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case isp.closed:
		return errors.New("netlab: RestartISPRouter: lab is closed")
	case isp.httpPort == 65535:
		return errors.New("netlab: RestartISPRouter: out of HTTP ports")
	}
	if isp.daemon != nil {
		isp.sink.mark("stopping miniupnpd (RestartISPRouter)")
		if err := isp.daemon.stop(stopGrace); err != nil {
			return err
		}
		isp.daemon = nil
	}
	if _, err := run(ctx, nftFlushMiniupnpd(), "ip", "netns", "exec", isp.ns, "nft", "-f", "-"); err != nil {
		return err
	}
	isp.restarts++
	isp.httpPort++
	return l.startISP(ctx)
}
