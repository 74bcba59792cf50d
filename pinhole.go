package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/pcp"
)

// pinholeMapper marks the mappers of IPv6 pinholes (pcpPinhole,
// upnpPinhole). Each serves one pinhole: it remembers what the gateway named
// it by, and it follows the host's stable address (see check).
type pinholeMapper interface {
	mapper
	tableReader
	isPinhole()
}

// errPrefixChanged is the Err of the Lost event of a pinhole whose address
// the host no longer has (a new prefix, or the address was removed); the
// pinhole is re-opened for the new address at once.
var errPrefixChanged = fmt.Errorf("%w: the host's stable IPv6 address changed", errGone)

// errNoStableIPv6 is the IPv6 family's error when the host has no stable
// global IPv6 address (at a renewal: it lost it).
var errNoStableIPv6 = fmt.Errorf("%w: the host has no stable global IPv6 address", ErrUnsupported)

// pinholeBase is what both pinhole mappers share.
type pinholeBase struct{ gw *gateway }

func (pinholeBase) isPinhole() {}

// address is the host's current stable address.
func (p pinholeBase) address() (netip.Addr, error) {
	a, ok := p.gw.c.stableIPv6()
	if !ok {
		return netip.Addr{}, errNoStableIPv6
	}
	return a, nil
}

// check is the poll of a pinhole: it sends nothing, it only compares the
// host's stable address with the pinhole's; a change makes the pinhole
// Lost, and the renewer re-opens it for the new address (mapPort).
func (p pinholeBase) check(_ context.Context, _ *mapReq, g *grant) (netip.Addr, error) {
	a, err := p.address()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", errGone, err)
	}
	if a != g.internal.Addr() {
		return netip.Addr{}, errPrefixChanged
	}
	return netip.Addr{}, nil
}

func (pinholeBase) list(context.Context) ([]Entry, error) { return nil, errNoCheck }

func (pinholeBase) probe(context.Context, func()) (*probeInfo, error) {
	return nil, fmt.Errorf("%w: a pinhole has no probe", ErrUnsupported)
}

func (pinholeBase) remove(context.Context, DeleteRequest) error {
	return fmt.Errorf("%w: Client.Delete does not remove IPv6 pinholes; close the Mapping", ErrUnsupported)
}

// pcpPinhole opens a pinhole with a PCP MAP for this host's IPv6 address
// (RFC 6887: no translation, the external address is the internal one).
type pcpPinhole struct {
	pinholeBase
	cl *pcp.Client

	mu    sync.Mutex
	first pcp.Nonce // the nonce of the opening MAP, chosen before it is sent; guarded by mu
}

func (p *pcpPinhole) method() Method { return PCP }

// check is the poll of a PCP pinhole: the host's address (see
// pinholeBase.check), then one ANNOUNCE request, whose answer carries the
// server's epoch: a server that lost its state (a reboot) shows it there,
// and the pinhole is restored at once rather than at its next renewal.
func (p *pcpPinhole) check(ctx context.Context, q *mapReq, g *grant) (netip.Addr, error) {
	if _, err := p.pinholeBase.check(ctx, q, g); err != nil {
		return netip.Addr{}, err
	}
	a, err := p.cl.Announce(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.GatewayReset {
		return netip.Addr{}, fmt.Errorf("%w: %w", errGone, errGatewayReset)
	}
	return netip.Addr{}, nil
}

func (p *pcpPinhole) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	addr, err := p.address()
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.internal.Addr() != addr {
		// A new prefix: the old pinhole is for an address we no longer
		// have; withdraw it (best effort) and open a fresh one.
		if err := p.unmap(ctx, q, prev); err != nil {
			p.gw.log.Debug("withdrawing the old pinhole", "err", errText(err))
		}
		prev = nil
	}
	req := pcp.MapRequest{
		Protocol:          q.proto.ianaNumber(),
		InternalPort:      q.internal.Port(),
		SuggestedExternal: netip.AddrPortFrom(addr, q.internal.Port()),
		Lifetime:          q.lifetime,
	}
	if prev != nil {
		req.Nonce = prev.nonce
	} else {
		// Known before the MAP is sent, so that one left unanswered can
		// be withdrawn (see withdrawFirst).
		req.Nonce = pcp.NewNonce()
		p.mu.Lock()
		p.first = req.Nonce
		p.mu.Unlock()
	}
	r, err := p.cl.Map(ctx, req)
	if prev != nil && errors.Is(err, ErrNoResources) {
		// OPNsense answers a pinhole's renewal NO_RESOURCES
		// (opnsense/plugins#4010) though the pinhole stands: withdraw it
		// and open it afresh under a new nonce.
		p.gw.log.Debug("PCP pinhole renewal refused; re-opening it", "err", errText(err))
		if derr := p.unmap(ctx, q, prev); derr != nil {
			return nil, fmt.Errorf("%w (and its delete: %w)", err, derr)
		}
		req.Nonce = pcp.Nonce{}
		r, err = p.cl.Map(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	if r.Lifetime <= 0 || r.External.Addr() != addr {
		// Opened for another address: the request left from another one
		// (a temporary address) and the gateway took that. Withdraw it:
		// it is not ours to keep, and its nonce would block the next try.
		if r.Lifetime > 0 {
			if err := p.cl.Delete(ctx, r); err != nil {
				p.gw.log.Debug("withdrawing a pinhole for the wrong address", "err", errText(err))
			}
		}
		return nil, fmt.Errorf("%w: PCP opened %v for %v, want %v", ErrMalformed, r.External, r.Lifetime, addr)
	}
	return &grant{
		external: r.External,
		internal: netip.AddrPortFrom(addr, q.internal.Port()),
		lifetime: r.Lifetime,
		nonce:    r.Nonce,
		reset:    r.GatewayReset,
	}, nil
}

func (p *pcpPinhole) unmap(ctx context.Context, q *mapReq, g *grant) error {
	err := p.cl.Delete(ctx, &pcp.MapResponse{
		Nonce: g.nonce, Protocol: q.proto.ianaNumber(), InternalPort: g.internal.Port(), External: g.external,
	})
	if errors.Is(err, ErrNoSuchEntry) {
		return nil
	}
	return err
}

// upnpPinhole opens a pinhole with WANIPv6FirewallControl:1 AddPinhole,
// sent from the address it opens (miniupnpd answers 606 otherwise).
type upnpPinhole struct {
	pinholeBase

	mu       sync.Mutex
	location *url.URL    // the gateway's IPv6 description URL; guarded by mu
	cl       *igd.Client // for the address in `for`; guarded by mu
	forAddr  netip.Addr  // the address cl sends from
	id       uint16      // the pinhole's UniqueID; guarded by mu
}

func (u *upnpPinhole) method() Method { return UPnP }

func (u *upnpPinhole) locationURL() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.location.String()
}

// client returns the firewall service's client for requests from addr,
// fetching the description the first time (and after relocate).
func (u *upnpPinhole) client(ctx context.Context, addr netip.Addr) (*igd.Client, error) {
	u.mu.Lock()
	cl, forAddr, loc := u.cl, u.forAddr, u.location
	u.mu.Unlock()
	if cl != nil && forAddr == addr {
		return cl, nil
	}
	var ctl *url.URL
	var st string
	if cl != nil {
		ctl, st = cl.ControlURL, cl.ServiceType
	} else {
		root, err := discovery.Fetch(ctx, loc, netip.Addr{}, &discovery.FetchOptions{
			Timeout: u.gw.c.requestTimeout(), Logger: u.gw.c.Logger,
		})
		if err != nil {
			return nil, err
		}
		svcs := root.Services(igd.FirewallServiceTypes...)
		if len(svcs) == 0 {
			return nil, fmt.Errorf("%w: no %s service at %v", ErrUnsupported, igd.ServiceWANIPv6Firewall1, loc)
		}
		ctl, st = svcs[0].ControlURL, svcs[0].ServiceType
	}
	cl = &igd.Client{ControlURL: ctl, ServiceType: st, Timeout: u.gw.c.requestTimeout(), Logger: u.gw.c.Logger}
	if h, err := netip.ParseAddr(ctl.Hostname()); err == nil && !h.IsLoopback() {
		// From the address being opened, not one the kernel picks (a
		// temporary or ULA address gets 606). On loopback (tests) the
		// gateway takes ::1 for the host.
		cl.LocalAddr = addr
	}
	u.mu.Lock()
	u.cl, u.forAddr = cl, addr
	u.mu.Unlock()
	return cl, nil
}

// do runs fn with the firewall service's client for requests from addr.
// When the control URL refuses connections — the router restarted and its
// HTTP server moved to another port, as miniupnpd's does — it finds the
// description again (see gateway.findLocation6) and runs fn once more.
func (u *upnpPinhole) do(ctx context.Context, addr netip.Addr, fn func(cl *igd.Client) error) error {
	cl, err := u.client(ctx, addr)
	if err != nil {
		return err
	}
	err = fn(cl)
	if !errors.Is(err, igd.ErrUnreachable) || ctx.Err() != nil {
		return err
	}
	u.gw.log.Info("UPnP firewall control URL unreachable; locating the description again",
		"control", cl.ControlURL.Redacted(), "err", errText(err))
	loc, lerr := u.gw.findLocation6(ctx)
	if lerr != nil {
		return fmt.Errorf("%w (and locating the IPv6 description again: %w)", err, lerr)
	}
	u.mu.Lock()
	u.location, u.cl = loc, nil
	u.mu.Unlock()
	cl, cerr := u.client(ctx, addr)
	if cerr != nil {
		return fmt.Errorf("%w (and the description located again at %v: %w)", err, loc.Redacted(), cerr)
	}
	return fn(cl)
}

// check is the poll of a UPnP pinhole: the host's address (see
// pinholeBase.check), then one GetPinholePackets for the pinhole's
// UniqueID — the cheapest firewall action that names a pinhole, so a
// gateway that lost it (a reboot) answers 704 and the pinhole is restored.
// Its count is not read: miniupnpd always says 0. A gateway without the
// action (401) cannot be checked; renewals still re-create the pinhole.
func (u *upnpPinhole) check(ctx context.Context, q *mapReq, g *grant) (netip.Addr, error) {
	if _, err := u.pinholeBase.check(ctx, q, g); err != nil {
		return netip.Addr{}, err
	}
	u.mu.Lock()
	id := u.id
	u.mu.Unlock()
	err := u.do(ctx, g.internal.Addr(), func(cl *igd.Client) error {
		_, err := cl.GetPinholePackets(ctx, id)
		return err
	})
	switch {
	case igd.IsPinholeGone(err):
		return netip.Addr{}, fmt.Errorf("%w: the gateway no longer holds pinhole %d: %w", errGone, id, err)
	case errors.Is(err, igd.ErrUnsupported):
		return netip.Addr{}, errNoCheck
	}
	return netip.Addr{}, err
}

// pinholeLease is the lease asked for: the Request's, within what the
// firewall service allows.
func pinholeLease(d time.Duration) time.Duration {
	return min(max(d, igd.MinPinholeLease), igd.MaxPinholeLease)
}

func (u *upnpPinhole) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	addr, err := u.address()
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.internal.Addr() != addr {
		if err := u.unmap(ctx, q, prev); err != nil {
			u.gw.log.Debug("withdrawing the old pinhole", "err", errText(err))
		}
		prev = nil
	}
	if prev == nil {
		// Ask first: a firewall that is off needs no pinhole (and would
		// answer 702), one that forbids pinholes would answer 703.
		var st igd.FirewallStatus
		err := u.do(ctx, addr, func(cl *igd.Client) (err error) {
			st, err = cl.GetFirewallStatus(ctx)
			return err
		})
		switch {
		case err != nil:
			return nil, err
		case !st.Enabled:
			return nil, fmt.Errorf("upnpmap: %w", ErrNoPinholeNeeded)
		case !st.InboundPinholeAllowed:
			return nil, fmt.Errorf("upnpmap: %w", igd.ErrInboundPinholeNotAllowed)
		}
	}
	lease := pinholeLease(q.lifetime)
	// A renewal re-sends the same AddPinhole: it extends the pinhole and
	// re-creates it if the gateway lost it, in one call.
	var id uint16
	ph := igd.Pinhole{InternalClient: addr, InternalPort: q.internal.Port(), Protocol: upnpProto(q.proto), LeaseTime: lease}
	err = u.do(ctx, addr, func(cl *igd.Client) (err error) {
		if prev == nil {
			id, err = u.addNew(ctx, cl, ph) // see pinhole_cancel.go
		} else {
			id, err = cl.AddPinhole(ctx, ph)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	if prev != nil && id != u.id {
		// The gateway had lost the pinhole and made it anew; the new
		// UniqueID is the one to renew and remove.
		u.gw.log.Info("pinhole re-created by the gateway", "old", u.id, "new", id)
	}
	u.id = id
	u.mu.Unlock()
	ap := netip.AddrPortFrom(addr, q.internal.Port())
	return &grant{external: ap, internal: ap, lifetime: lease, asked: lease, pinholeID: id}, nil
}

func (u *upnpPinhole) unmap(ctx context.Context, _ *mapReq, g *grant) error {
	u.mu.Lock()
	id := u.id
	u.mu.Unlock()
	err := u.do(ctx, g.internal.Addr(), func(cl *igd.Client) error {
		return cl.RemovePinhole(ctx, id)
	})
	if igd.IsPinholeGone(err) {
		return nil
	}
	return err
}
