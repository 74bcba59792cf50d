package main

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/upnpmap/upnpmap"
)

// gatewayKey is the state-file key for the gateway the options point at.
func (o *options) gatewayKey() string {
	if o.gateway != "" {
		return o.gateway
	}
	return defaultGatewayKey
}

// gatewayAddr is --gateway, or the zero Addr.
func (o *options) gatewayAddr() netip.Addr {
	a, _ := netip.ParseAddr(o.gateway) // checked when the flags were parsed
	return a
}

// methodNames returns the --method values spelled the library's way, or nil
// for the default (all, best first).
func (o *options) methodNames() []string {
	var out []string
	for _, m := range o.methods {
		pm, err := upnpmap.ParseMethod(m)
		if err == nil {
			out = append(out, string(pm))
		}
	}
	return out
}

// newClient builds the library client the flags describe. st supplies the
// cached description URL of the gateway (the front door checks it before
// trusting it, and searches as usual when it is stale).
func (a *app) newClient(o *options, st *state) *upnpmap.Client {
	c := &upnpmap.Client{
		Gateway:    o.gatewayAddr(),
		Interfaces: o.interfaces,
		Logger:     o.logger,
	}
	if o.watch != nil {
		c.Logger = slog.New(o.watch)
	}
	for _, m := range o.methodNames() {
		c.Methods = append(c.Methods, upnpmap.Method(m))
	}
	if o.timeout > 0 {
		// Someone who sets --timeout may have a slow router: let the probes
		// wait that long too. By default the library gives up finding a
		// gateway after its own short budget (1s), so that "no gateway"
		// comes quickly on a network without one.
		c.ProbeTimeout = o.timeout
		c.RequestTimeout = o.timeout
	}
	if st != nil {
		c.Location = st.location(o.gatewayKey())
	}
	// Checked by options.check.
	c.Gateway6, _ = netip.ParseAddr(o.gateway6)
	c.HostIPv6, _ = netip.ParseAddr(o.host6)
	c.Location6 = o.location6
	if o.checker != "" {
		c.Checker, c.Reach = o.checker, o.reachClient()
	}
	c.SSH = o.sshConfig()                       // nil without --via
	c.Upstream, _ = netip.ParseAddr(o.upstream) // checked by options.check
	c.NoChain = o.noChain
	for _, m := range o.upstreamMethods {
		if pm, err := upnpmap.ParseMethod(m); err == nil {
			c.UpstreamMethods = append(c.UpstreamMethods, pm)
		}
	}
	return c
}

// stateForClient reads the state file for newClient, which takes only the
// cached description URL from it: nil (nothing read, no lock taken) when
// --method rules UPnP out.
func (a *app) stateForClient(o *options) *state {
	names := o.methodNames()
	if len(names) == 0 || slices.Contains(names, string(upnpmap.UPnP)) {
		return a.readState()
	}
	return nil
}

// rememberGateway caches where the gateway's description lives, for the next
// run's warm start. Failing to write the cache costs only speed.
func (a *app) rememberGateway(o *options, gw netip.Addr, location string) {
	if location == "" {
		return
	}
	err := a.updateState(func(s *state) {
		s.setLocation(o.gatewayKey(), gw, location, time.Now())
	})
	if err != nil && o.verbose {
		a.warn("could not cache the gateway's description URL: %v", err)
	}
}

// isThisMachine reports whether a is one of this machine's addresses. It
// only reads the interface table; nothing is sent.
func isThisMachine(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}
