package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// listenDialTimeout bounds the connect that looks for a TCP listener on
// this machine: loopback and the host's own address answer at once, so a
// longer wait would only mean a firewall dropping the SYN.
const listenDialTimeout = 500 * time.Millisecond

// listening looks for a service on Port here: TCP connects to the address
// the mapping would point at (then to 127.0.0.1, for a service bound to
// loopback only); UDP tries to bind the port, which fails while a socket
// holds it.
func (d *diagnosis) listening(ctx context.Context) {
	if d.o.Port == 0 {
		return
	}
	target := d.r.Local.Unmap()
	if !target.IsValid() {
		target = netip.IPv4Unspecified()
	}
	loop := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	l := &ListenReport{Addr: netip.AddrPortFrom(target, d.o.Port)}
	d.r.Listening = l
	proto := "TCP"
	if d.o.Protocol == UDP {
		proto = "UDP"
		l.Listening = udpHeld(netip.AddrPortFrom(target, d.o.Port))
		l.Limits = "a UDP port is seen only while a socket of this machine holds it; a socket that set SO_REUSEADDR or SO_REUSEPORT, or a service in another network namespace or container, is not seen"
	} else {
		l.Listening = tcpAccepts(ctx, l.Addr)
		if !l.Listening && !target.IsLoopback() && !target.IsUnspecified() {
			l.LoopbackOnly = tcpAccepts(ctx, netip.AddrPortFrom(loop, d.o.Port))
		}
		l.Limits = "only this machine is checked; a host firewall may still drop connections from outside"
	}
	switch {
	case l.LoopbackOnly:
		d.add(Finding{Code: "LOOPBACK_ONLY", Severity: SeverityError,
			What: fmt.Sprintf("%s port %d accepts on 127.0.0.1 only, which the router's forward to %v cannot reach", proto, d.o.Port, target),
			Fix:  fmt.Sprintf("make the service listen on %v or on all addresses (0.0.0.0)", target)})
	case !l.Listening:
		d.add(Finding{Code: "NOT_LISTENING", Severity: SeverityError,
			What: fmt.Sprintf("nothing listens on %s port %d here (%v)", proto, d.o.Port, l.Addr),
			Fix:  fmt.Sprintf("start the service first, or map the port it really listens on (a mapping only forwards to %v)", l.Addr)})
	}
}

// tcpAccepts reports whether a TCP connect to a succeeds.
func tcpAccepts(ctx context.Context, a netip.AddrPort) bool {
	dl := net.Dialer{Timeout: listenDialTimeout}
	c, err := dl.DialContext(ctx, "tcp", a.String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// udpHeld reports whether a UDP socket of this machine holds a's port: our
// own bind of it fails with EADDRINUSE (a socket on the wildcard address
// holds every address's port).
func udpHeld(a netip.AddrPort) bool {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	c.Close()
	return false
}
