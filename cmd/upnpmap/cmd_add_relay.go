package main

import (
	"context"
	"net"
	"net/netip"
)

// runAddRelay is `add EXTPORT HOST:PORT --relay`: for routers that map only
// to the host that asks, map EXTPORT to a relay on this machine that forwards
// to HOST:PORT, and keep both alive in the foreground until interrupted.
func runAddRelay(ctx context.Context, a *app, o *options, spec mapSpec) error {
	target := netip.AddrPortFrom(spec.host, spec.port).String()
	s := newSession(a, o)
	for _, proto := range spec.protos {
		// The relay listens on a port the kernel picks, so it cannot clash
		// with a server already running here; the router maps EXTPORT to it.
		lr, err := s.startRelay(relaySpec{proto: proto, listen: net.JoinHostPort("", "0"), target: target})
		if err != nil {
			s.abort()
			return err
		}
		local := mapSpec{ext: spec.ext, port: lr.relayPort()}
		if err := s.addMapping(ctx, local, proto, target); err != nil {
			s.abort()
			return err
		}
	}
	if err := s.printStarted(); err != nil {
		s.abort()
		return err
	}
	return s.wait(ctx)
}
