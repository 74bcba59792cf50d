package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// SSH is the method of a port forwarded through an SSH server (Client.SSH):
// a remote forward, OpenSSH's ssh -R, that makes the server listen on its
// address and pass each connection back through the SSH connection. It
// serves where no router can map: carrier-grade NAT, a router that refuses,
// no gateway at all. TCP only.
const SSH Method = "ssh"

// ErrLoopbackOnly: the SSH server accepted the forward but listens on its
// loopback only (sshd's default GatewayPorts no), so nobody outside reaches
// it. The message names the sshd_config line to add.
var ErrLoopbackOnly = sshfwd.ErrLoopbackOnly

// sshLoopback is where forwarded connections go when the Request names no
// InternalAddr and this machine's address towards the SSH server is
// unknown.
var sshLoopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// sshLocalAddr is this machine's address on the way to the SSH server, the
// target of forwarded connections when the Request names no InternalAddr:
// the address a router mapping would forward to (a service that listens on
// its LAN address only, as the lab's, is not on loopback). Finding it sends
// nothing (a route lookup, see discovery.LocalAddrFor); a server named by a
// host name is resolved first. Loopback when neither works.
func sshLocalAddr(ctx context.Context, host string) netip.Addr {
	a, err := netip.ParseAddr(host)
	if err != nil {
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(addrs) == 0 {
			return sshLoopback
		}
		a = addrs[0]
	}
	local, err := discovery.LocalAddrFor(a.Unmap())
	if err != nil || !local.IsValid() || local.IsUnspecified() {
		return sshLoopback
	}
	return local
}

// sshDirect reports whether Map goes straight to the SSH server: Client.SSH
// is set and Methods names SSH first.
func (c *Client) sshDirect() bool {
	return c.SSH != nil && len(c.Methods) > 0 && c.Methods[0] == SSH
}

// sshFallback reports whether the SSH server is the fallback after the
// router methods: Client.SSH is set and Methods is empty or names SSH
// after a router method.
func (c *Client) sshFallback() bool {
	if c.SSH == nil {
		return false
	}
	if len(c.Methods) == 0 {
		return true
	}
	for _, m := range c.Methods[1:] {
		if m == SSH {
			return true
		}
	}
	return false
}

// mapOrFallBack maps through the router and, when that fails or gives a
// port the Internet cannot reach (a private or carrier-grade NAT external
// address, and no IPv6 pinhole beside it), through the SSH server instead.
// A router mapping that is unreachable is deleted before the forward is
// made.
func (c *Client) mapOrFallBack(ctx context.Context, r Request) (*Mapping, error) {
	router := c.mapRouter
	if r.Family != IPv4 {
		router = c.mapFamilies // dualstack.go
	}
	m, err := router(ctx, r)
	if err == nil {
		ext := m.External().Addr()
		if !ext.IsValid() || !notPublic(ext) || m.Pinhole() != nil {
			return m, nil
		}
		err = fmt.Errorf("upnpmap: the router mapped %v, an address the Internet cannot reach", m.External())
		if cerr := m.CloseContext(ctx); cerr != nil {
			c.log().Debug("deleting the unreachable mapping", "err", errText(cerr))
		}
	}
	if ctx.Err() != nil || errors.Is(err, ErrInvalidArgs) {
		return nil, err
	}
	c.log().Info("no router mapping reachable from outside; forwarding through the ssh server",
		"server", c.SSH.Server.String(), "why", errText(err))
	sm, serr := c.mapSSH(ctx, r)
	if serr != nil {
		return nil, fmt.Errorf("%w; ssh fallback: %w", err, serr)
	}
	return sm, nil
}

// mapSSH opens r's port as a remote forward on the SSH server. The remote
// port is r's wish; when the server refuses it and r.ExactPort is not set,
// it asks again for any port.
func (c *Client) mapSSH(ctx context.Context, r Request) (*Mapping, error) {
	local := sshLoopback
	if !r.InternalAddr.IsValid() {
		local = sshLocalAddr(ctx, c.SSH.Server.Host)
	}
	q, err := r.normalize(local)
	if err != nil {
		return nil, err
	}
	if q.proto != TCP {
		return nil, fmt.Errorf("upnpmap: %w: an ssh server forwards TCP only", ErrUnsupported)
	}
	cfg := *c.SSH
	if cfg.Logger == nil {
		cfg.Logger = c.Logger
	}
	cfg.RemotePort = q.wish
	fwd, err := sshfwd.Remote(ctx, cfg, q.internal.String())
	if err != nil && !q.exact && errors.Is(err, sshfwd.ErrForwardRefused) && ctx.Err() == nil {
		c.log().Debug("ssh server refused the port; asking for any", "port", q.wish, "err", errText(err))
		cfg.RemotePort = 0
		fwd, err = sshfwd.Remote(ctx, cfg, q.internal.String())
	}
	if err != nil {
		return nil, fmt.Errorf("upnpmap: forward %d through ssh server %s: %w", q.wish, cfg.Server, err)
	}
	return newSSHMapping(c, q, fwd), nil
}

// newSSHMapping wraps a remote forward in a Mapping. It has no gateway: its
// goroutine passes the forward's events on instead of renewing a lease, and
// Close (or Detach, since the forward lives only in this process) closes
// the forward.
func newSSHMapping(c *Client, q *mapReq, fwd *sshfwd.Forward) *Mapping {
	m := &Mapping{
		c:      c,
		mp:     sshMapper{fwd: fwd},
		q:      q,
		clk:    c.clock(),
		g:      &grant{external: fwd.Addr(), internal: q.internal, start: c.clock().Now()},
		events: make(chan Event, eventBuffer),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	m.log = c.log().With("method", SSH, "proto", q.proto, "internal", q.internal)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.passSSHEvents(ctx, fwd)
	m.log.Info("mapped", "external", fwd.Addr(), "server", c.SSH.Server.String())
	return m
}

// passSSHEvents turns the forward's events into the Mapping's, until ctx
// ends (stop) or the forward closes its channel.
func (m *Mapping) passSSHEvents(ctx context.Context, fwd *sshfwd.Forward) {
	defer close(m.done)
	for {
		var ev sshfwd.Event
		var ok bool
		select {
		case <-ctx.Done():
			return
		case ev, ok = <-fwd.Events():
			if !ok {
				return
			}
		}
		kind := Failed
		switch ev.Kind {
		case sshfwd.Lost:
			kind = Lost
		case sshfwd.Restored:
			kind = Restored
		}
		old := m.External()
		ext := old
		if ev.Addr.IsValid() {
			ext = ev.Addr
			m.setGrant(&grant{external: ext, internal: m.q.internal, start: ev.Time})
		}
		m.emit(Event{Kind: kind, External: ext, Err: ev.Err, Time: ev.Time})
		if kind == Restored && ext != old {
			m.emit(Event{Kind: ExternalAddressChanged, External: ext, Time: ev.Time})
		}
	}
}

// sshMapper is the mapper face of a remote forward, so that a Mapping's
// accessors (Method, DeleteRequest) work. Only unmap is ever called: the
// forward renews itself by reconnecting.
type sshMapper struct{ fwd *sshfwd.Forward }

func (sshMapper) method() Method { return SSH }

func (sshMapper) probe(context.Context, func()) (*probeInfo, error) { return nil, errNoSSHGateway }

func (sshMapper) mapPort(context.Context, *mapReq, *grant) (*grant, error) {
	return nil, errNoSSHGateway
}

// unmap closes the forward: the server stops listening on the port.
func (s sshMapper) unmap(context.Context, *mapReq, *grant) error { return s.fwd.Close() }

func (sshMapper) remove(context.Context, DeleteRequest) error { return errNoSSHGateway }

// errNoSSHGateway: an SSH forward lives in the process that made it; there
// is nothing on a router to ask or delete.
var errNoSSHGateway = fmt.Errorf("%w: an ssh forward lives only in the process that made it", ErrUnsupported)
