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
}

func (p *pcpPinhole) method() Method { return PCP }

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
	location *url.URL // the gateway's IPv6 description URL

	mu      sync.Mutex
	cl      *igd.Client // for the address in `for`; guarded by mu
	forAddr netip.Addr  // the address cl sends from
	id      uint16      // the pinhole's UniqueID; guarded by mu
}

func (u *upnpPinhole) method() Method { return UPnP }

func (u *upnpPinhole) locationURL() string { return u.location.String() }

// client returns the firewall service's client for requests from addr,
// fetching the description the first time.
func (u *upnpPinhole) client(ctx context.Context, addr netip.Addr) (*igd.Client, error) {
	u.mu.Lock()
	cl, forAddr := u.cl, u.forAddr
	u.mu.Unlock()
	if cl != nil && forAddr == addr {
		return cl, nil
	}
	var ctl *url.URL
	var st string
	if cl != nil {
		ctl, st = cl.ControlURL, cl.ServiceType
	} else {
		root, err := discovery.Fetch(ctx, u.location, netip.Addr{}, &discovery.FetchOptions{
			Timeout: u.gw.c.requestTimeout(), Logger: u.gw.c.Logger,
		})
		if err != nil {
			return nil, err
		}
		svcs := root.Services(igd.FirewallServiceTypes...)
		if len(svcs) == 0 {
			return nil, fmt.Errorf("%w: no %s service at %v", ErrUnsupported, igd.ServiceWANIPv6Firewall1, u.location)
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
	cl, err := u.client(ctx, addr)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		// Ask first: a firewall that is off needs no pinhole (and would
		// answer 702), one that forbids pinholes would answer 703.
		st, err := cl.GetFirewallStatus(ctx)
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
	id, err := cl.AddPinhole(ctx, igd.Pinhole{
		InternalClient: addr, InternalPort: q.internal.Port(), Protocol: upnpProto(q.proto), LeaseTime: lease,
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
	cl, err := u.client(ctx, g.internal.Addr())
	if err != nil {
		return err
	}
	err = cl.RemovePinhole(ctx, id)
	if igd.IsPinholeGone(err) {
		return nil
	}
	return err
}
