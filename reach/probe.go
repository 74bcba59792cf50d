package reach

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// dialProbe opens the probe's connection from local (when it names an IP)
// to remote. It is the only way the server reaches out, and it is only ever
// given the observed source of a request.
func dialProbe(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{}
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		switch network {
		case "tcp":
			d.LocalAddr = &net.TCPAddr{IP: local.Addr().AsSlice()}
		case "udp":
			d.LocalAddr = &net.UDPAddr{IP: local.Addr().AsSlice()}
		}
	}
	return d.DialContext(ctx, network, remote.String())
}

// probeable reports whether the checker may probe observed for a request
// that arrived on local. The kernel already drops datagrams whose source is
// one of the host's own, loopback or multicast addresses when they come from
// outside; this holds even where it would not: no probe goes to the
// checker's own address, to loopback unless the request came over loopback,
// or to an address that is no single host's.
func probeable(local, observed netip.Addr) bool {
	local, observed = local.Unmap(), observed.Unmap()
	switch {
	case !observed.IsValid(), observed.IsUnspecified(), observed.IsMulticast(),
		observed == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return false
	case observed.IsLoopback() || local.IsLoopback():
		return observed.IsLoopback() && local.IsLoopback()
	}
	return observed != local
}

// probe tests r.port on the observed address's IP and returns the verdict.
// local is the address the request arrived on, so the probe leaves from the
// checker's public address.
func (s *Server) probe(local, observed netip.AddrPort, r request) Code {
	if !probeable(local.Addr(), observed.Addr()) {
		s.stats.bad.Add(1)
		return CodeBad
	}
	s.stats.probes.Add(1)
	ctx, cancel := context.WithTimeout(s.ctx, orDur(s.ProbeTimeout, DefaultProbeTimeout))
	defer cancel()
	target := netip.AddrPortFrom(observed.Addr().Unmap(), r.port)
	local = netip.AddrPortFrom(local.Addr().Unmap(), 0)
	msg := appendProbe(make([]byte, 0, ProbeSize), probe(r), typeProbe)
	if r.proto == TCP {
		return s.probeTCP(ctx, local, target, msg, r.nonce)
	}
	return s.probeUDP(ctx, local, target, msg, r.nonce)
}

func (s *Server) probeTCP(ctx context.Context, local, target netip.AddrPort, msg []byte, nonce Nonce) Code {
	c, err := s.dial(ctx, "tcp", local, target)
	if err != nil {
		return dialCode(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(echoWait))
	if _, err := c.Write(msg); err != nil {
		return CodeOpen // it accepted; what it does next is its business
	}
	buf := make([]byte, ProbeSize)
	if _, err := io.ReadFull(c, buf); err != nil {
		return CodeOpen
	}
	return echoCode(buf, nonce)
}

func (s *Server) probeUDP(ctx context.Context, local, target netip.AddrPort, msg []byte, nonce Nonce) Code {
	c, err := s.dial(ctx, "udp", local, target)
	if err != nil {
		return dialCode(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(msg); err != nil {
		return dialCode(err)
	}
	buf := make([]byte, ProbeSize+1) // one more, to tell an echo from a longer datagram
	n, err := c.Read(buf)
	if err != nil {
		return dialCode(err)
	}
	return echoCode(buf[:n], nonce)
}

// echoCode tells an echo of our probe from any other reply.
func echoCode(b []byte, nonce Nonce) Code {
	if p, err := parseProbe(b, typeEcho); err == nil && p.nonce == nonce {
		return CodeEchoed
	}
	return CodeOpen
}

// dialCode classifies a failed probe: a reset or ICMP port unreachable is
// REFUSED; a timeout or anything else (no route, host unreachable) is
// NO_ANSWER, since from outside it looks the same as a drop.
func dialCode(err error) Code {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return CodeRefused
	}
	return CodeNoAnswer
}
