package upnpmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/upnpmap/upnpmap/pcp"
)

// pinholeResult is what openPinhole hands back to Map.
type pinholeResult struct {
	m   *Mapping
	err error
}

// mapFamilies is Map for a Request that asks for IPv6 (Family BothFamilies
// or IPv6). With BothFamilies on a host without a stable global IPv6
// address, or without an IPv6 router to ask, it is Map for IPv4 and waits
// for nothing: choosing sends nothing (a file read, the routing table).
// Otherwise the pinhole is opened beside the IPv4 mapping, concurrently; a
// failure of one family is readable on the other's Mapping
// (OtherFamilyErr), and only both failing fails Map. A Map given up (ctx
// ended) while its pinhole request is at the gateway leaves no pinhole
// there: UPnP's answer is still read, within RequestTimeout, and the pinhole
// it names removed; PCP's is deleted under the nonce chosen beforehand, or
// closed if its answer crossed the cancellation (see pinhole_cancel.go).
func (c *Client) mapFamilies(ctx context.Context, r Request) (*Mapping, error) {
	if r.Family != BothFamilies && r.Family != IPv6 {
		return nil, fmt.Errorf("upnpmap: %w: unknown family %d", ErrInvalidArgs, int(r.Family))
	}
	r4 := r
	r4.Family = IPv4
	// Another host's mapping (InternalAddr) gets no pinhole of this host.
	// The router first: a loopback Gateway without Gateway6 or Location6
	// (tests, the demo) never reads the machine's addresses.
	wantV6 := r.Family == IPv6 || (!r.InternalAddr.IsValid() && c.ipv6RouterKnown())
	addr, hasAddr := netip.Addr{}, false
	if wantV6 {
		addr, hasAddr = c.stableIPv6()
	}
	if r.Family == BothFamilies && !hasAddr {
		return c.mapRouter(ctx, r4)
	}
	if r.Family == IPv6 && !hasAddr {
		return nil, fmt.Errorf("upnpmap: %w", errNoStableIPv6)
	}
	if r.Family == IPv6 && r.InternalAddr.IsValid() && r.InternalAddr != addr {
		// The gateway opens a pinhole only for the address asking.
		return nil, fmt.Errorf("upnpmap: %w: a pinhole opens this host's own address %v, not %v", ErrInvalidArgs, addr, r.InternalAddr)
	}
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	r6 := r
	r6.InternalAddr, r6.ExternalPort = netip.Addr{}, 0
	q6, err := r6.normalize(addr)
	if err != nil {
		return nil, err
	}
	if r.Family == IPv6 {
		done := make(chan struct{})
		close(done)
		res := gw.openPinhole(ctx, q6, done)
		return res.m, res.err
	}
	v4done := make(chan struct{})
	v6 := make(chan pinholeResult, 1)
	go gw.pinholeWorker(ctx, q6, v4done, v6)
	m4, err4 := c.mapRouter(ctx, r4)
	close(v4done)
	res := <-v6
	switch {
	case err4 == nil && res.err == nil:
		m4.pair = res.m
		return m4, nil
	case err4 == nil:
		m4.pairErr = res.err
		m4.log.Info("IPv6 pinhole failed; IPv4 mapped", "err", errText(res.err))
		return m4, nil
	case res.err == nil:
		res.m.pairErr = err4
		res.m.log.Info("IPv4 mapping failed; IPv6 pinhole opened", "err", errText(err4))
		return res.m, nil
	}
	return nil, fmt.Errorf("%w; IPv6: %w", err4, res.err)
}

// pinholeWorker opens the pinhole beside the IPv4 mapping and hands the
// result over on out (buffered: it never blocks).
func (gw *gateway) pinholeWorker(ctx context.Context, q *mapReq, v4done <-chan struct{}, out chan<- pinholeResult) {
	out <- gw.openPinhole(ctx, q, v4done)
}

// openPinhole tries PCP, then UPnP. PCP gets ProbeTimeout (a router that
// does not speak it is common and must not hold Map up for the whole
// RequestTimeout). UPnP's IPv6 description URL is Client.Location6, or
// else the IPv4 one's path on the IPv6 router's address, known once the
// IPv4 side is done (v4done closed).
func (gw *gateway) openPinhole(ctx context.Context, q *mapReq, v4done <-chan struct{}) pinholeResult {
	c := gw.c
	var errs []error
	if srv, ok := c.pcp6Target(); ok {
		cl := &pcp.Client{Server: srv, Logger: c.Logger}
		if !srv.Addr().IsLoopback() {
			// Send from the address being opened: the server takes the
			// client address from the packet, and the kernel prefers
			// temporary (and, towards a link-local router, link-local)
			// sources.
			cl.LocalAddr = q.internal.Addr()
		}
		mp := &pcpPinhole{pinholeBase: pinholeBase{gw}, cl: cl}
		pctx, cancel := context.WithTimeout(ctx, c.probeTimeout())
		m, err := gw.openWith(pctx, mp, q)
		cancel()
		if err == nil && ctx.Err() != nil {
			// The answer came, but Map was given up meanwhile.
			return pinholeResult{err: givenUp(ctx, m)} // see pinhole_cancel.go
		}
		if err == nil {
			return pinholeResult{m: m}
		}
		if ctx.Err() != nil {
			mp.withdrawFirst(ctx, q, err) // see pinhole_cancel.go
		}
		errs = append(errs, fmt.Errorf("pcp: %w", err))
	}
	select {
	case <-v4done:
	case <-ctx.Done():
	}
	if loc := gw.location6(); loc != nil {
		m, err := gw.openWith(ctx, &upnpPinhole{pinholeBase: pinholeBase{gw}, location: loc}, q)
		if err == nil {
			return pinholeResult{m: m}
		}
		errs = append(errs, fmt.Errorf("upnp: %w", err))
	}
	if len(errs) == 0 {
		return pinholeResult{err: fmt.Errorf("upnpmap: %w: no IPv6 router to ask for a pinhole", ErrNoGateway)}
	}
	err := &mapError{q: q, msg: "IPv6 pinhole: " + joinErrs(errs), errs: errs}
	return pinholeResult{err: err}
}

// openWith makes q's pinhole through mp.
func (gw *gateway) openWith(ctx context.Context, mp pinholeMapper, q *mapReq) (*Mapping, error) {
	var g *grant
	err := gw.callExempt(ctx, func(ctx context.Context) (err error) {
		g, err = mp.mapPort(ctx, q, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return gw.adopt(mp, q, g), nil
}

func joinErrs(errs []error) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// ipv6RouterKnown reports whether a pinhole has anyone to ask.
func (c *Client) ipv6RouterKnown() bool {
	if c.Location6 != "" {
		return true
	}
	_, ok := c.gateway6()
	return ok
}

// gateway6 is the IPv6 router: Client.Gateway6, else (unless Gateway is a
// loopback address: tests and the demo never look at the machine's routes)
// the first IPv6 default gateway of the routing table.
func (c *Client) gateway6() (netip.Addr, bool) {
	if c.Gateway6.IsValid() {
		return c.Gateway6, true
	}
	if c.pcp6Server.IsValid() {
		return c.pcp6Server.Addr(), true
	}
	if c.Gateway.IsValid() && c.Gateway.Unmap().IsLoopback() {
		return netip.Addr{}, false
	}
	gws, err := c.defaultGateways()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, g := range gws {
		if a := g.Addr; a.Is6() && !a.Is4In6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// pcp6Target is the PCP server for pinholes.
func (c *Client) pcp6Target() (netip.AddrPort, bool) {
	if c.pcp6Server.IsValid() {
		return c.pcp6Server, true
	}
	if a, ok := c.gateway6(); ok {
		return netip.AddrPortFrom(a, pcp.Port), true
	}
	return netip.AddrPort{}, false
}

// location6 is the gateway's IPv6 description URL: Client.Location6, else
// the IPv4 description's URL moved to the IPv6 router's address (miniupnpd
// serves both families on one port); nil when neither is known.
func (gw *gateway) location6() *url.URL {
	c := gw.c
	if c.Location6 != "" {
		u, err := url.Parse(c.Location6)
		if err != nil {
			gw.log.Debug("bad Location6", "err", errText(err))
			return nil
		}
		return u
	}
	a, ok := c.gateway6()
	if !ok {
		return nil
	}
	up, ok := gw.mapper(UPnP).(*upnpMapper)
	if !ok || up.locationURL() == "" {
		return nil
	}
	u, err := url.Parse(up.locationURL())
	if err != nil {
		return nil
	}
	return onHost(u, a.String())
}

// onHost is u moved to host, its port kept (80 when it names none): the
// IPv4 description URL moved to the IPv6 router (miniupnpd serves both
// families on one port). Nil when the port is not a number.
func onHost(u *url.URL, host string) *url.URL {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return nil
	}
	v := *u
	v.Host = net.JoinHostPort(host, port)
	return &v
}
