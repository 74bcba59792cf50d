package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/igd"
)

// UPnP policy constants.
const (
	// maxPortTries bounds the ports tried after a conflict on an IGD:1
	// gateway (IGD:2 has AddAnyPortMapping).
	maxPortTries = 8
	// upnpMaxLease is what an IGD:2 gateway grants for lease 0 (the
	// specification's maximum, 604800 s).
	upnpMaxLease = 604800 * time.Second
)

// upnpMapper adapts packages discovery (SSDP search, description fetch) and
// igd (SOAP). It finds the gateway's connection service lazily and again
// whenever the control URL stops answering (a restarted miniupnpd listens on
// a new port).
type upnpMapper struct {
	gw *gateway

	mu       sync.Mutex
	cl       *igd.Client // nil until located
	location string
	device   string
	tried    bool // Client.Location was tried once
}

func newUPnP(gw *gateway) *upnpMapper { return &upnpMapper{gw: gw} }

func (u *upnpMapper) method() Method { return UPnP }

func (u *upnpMapper) locationURL() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.location
}

func (u *upnpMapper) client() *igd.Client {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cl
}

func (u *upnpMapper) probe(ctx context.Context, alive func()) (*probeInfo, error) {
	if err := u.locate(ctx, alive); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return &probeInfo{device: u.device, location: u.location}, nil
}

func upnpProto(p Protocol) string {
	if p == UDP {
		return igd.UDP
	}
	return igd.TCP
}

// ours says whether a table entry forwards to q's internal address and port.
func ours(e *igd.PortMapping, q *mapReq) bool {
	return internalHost(e) == q.internal.Addr() && e.InternalPort == q.internal.Port()
}

// nextPort is the port after p, staying out of the well-known range.
func nextPort(p uint16) uint16 {
	if p == 65535 || p < 1024 {
		return 1024
	}
	return p + 1
}

func (u *upnpMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	g := &grant{internal: q.internal}
	port, lease := q.wish, q.lifetime
	if prev != nil {
		port, lease = prev.external.Port(), prev.asked
		// Renewal: is the entry still there? A router that rebooted or
		// purged its table (Tailscale #10597) lost it; re-adding it is then
		// a restoration, which the caller reports.
		var e *igd.PortMapping
		err := u.do(ctx, func(cl *igd.Client) (err error) {
			e, err = cl.GetSpecificPortMappingEntry(ctx, "", port, upnpProto(q.proto))
			return err
		})
		switch {
		case errors.Is(err, ErrNoSuchEntry), err == nil && !ours(e, q):
			g.reset = true
		case err != nil && ctx.Err() != nil:
			return nil, err
		}
	}
	// The external address first: a router whose GetExternalIPAddress fails
	// gets no permanent entry we could not describe (Tailscale #20781).
	var ext netip.Addr
	if err := u.do(ctx, func(cl *igd.Client) (err error) {
		ext, err = cl.GetExternalIPAddress(ctx)
		return err
	}); err != nil {
		return nil, err
	}

	cl := u.client()
	v2 := strings.HasSuffix(cl.ServiceType, ":2")
	pm := igd.PortMapping{
		Protocol:       upnpProto(q.proto),
		InternalPort:   q.internal.Port(),
		InternalClient: q.internal.Addr().String(),
		Enabled:        true,
		Description:    q.description,
	}
	permanentTried, anyTried := false, false
	var entry *igd.PortMapping
	for tries := 0; ; {
		pm.ExternalPort, pm.LeaseDuration = port, lease
		err := cl.AddPortMapping(ctx, pm)
		if q.thirdParty && upnpCode(err) == igd.CodeConflictInMappingEntry {
			err = u.secureMode(ctx, cl, q, port, err)
		}
		if err == nil && (prev != nil || lease == 0) {
			entry, err = u.readBack(ctx, cl, q, port)
		}
		switch {
		case err == nil:
		case igd.IsRetryWithPermanentLease(err) && lease != 0 && !permanentTried:
			// 725, or 402 to a lease: permanent it is (deleted on Close).
			u.gw.log.Debug("UPnP gateway wants a permanent lease", "err", err)
			lease, permanentTried = 0, true
			continue
		case errors.Is(err, ErrPortInUse) && !q.exact:
			if v2 && !anyTried {
				anyTried = true
				var reserved uint16
				reserved, err = cl.AddAnyPortMapping(ctx, pm)
				if err == nil && reserved != 0 {
					if prev != nil || lease == 0 {
						entry, err = u.readBack(ctx, cl, q, reserved)
					}
					if err == nil {
						port = reserved
						break
					}
				}
				u.gw.log.Debug("UPnP AddAnyPortMapping", "err", err)
			}
			if tries++; tries > maxPortTries {
				return nil, fmt.Errorf("%w: %d ports tried from %d", ErrPortInUse, tries, q.wish)
			}
			port = nextPort(port)
			continue
		default:
			return nil, err
		}
		break
	}
	g.external = netip.AddrPortFrom(ext, port)
	g.asked, g.lifetime = lease, lease
	// Every entry is read back (readBack). A new mapping with a lease is
	// read back after Map returned, by its goroutine (verify), so that Map
	// returns after AddPortMapping; a renewal or restoration, which nobody
	// waits for, and a lease asked as permanent, whose real length only the
	// entry tells (IGD:2 makes lease 0 its maximum), here and now.
	g.unverified = prev == nil && lease != 0
	if lease == 0 {
		// Permanent, unless the gateway says otherwise: IGD:2 reads lease 0
		// as its maximum (604800 s), so renew before that runs out.
		switch {
		case entry != nil:
			g.lifetime = entry.LeaseDuration
		case v2:
			g.lifetime = upnpMaxLease
		}
	}
	return g, nil
}

// upnpCode is the UPnP error code in err's chain, or 0.
func upnpCode(err error) int {
	var ue *igd.UPnPError
	if errors.As(err, &ue) {
		return ue.Code
	}
	return 0
}

// secureMode tells a secure-mode refusal from a conflict. A router in UPnP
// secure mode maps only to the host that asks; IGD:2 says 606 for a mapping
// to another host, but miniupnpd (and IGD:1) answer 718 ConflictInMappingEntry
// even when nothing holds the port. So a 718 to a request for another host
// is read back: if no entry holds the port, or the one there is for the very
// host we asked for (miniupnpd updates a host's own entry rather than report
// a conflict), it was the host, not the port, that was refused. Then the
// result is a *secureModeError (no other port would help); otherwise err,
// the conflict, stands.
func (u *upnpMapper) secureMode(ctx context.Context, cl *igd.Client, q *mapReq, port uint16, err error) error {
	e, gerr := cl.GetSpecificPortMappingEntry(ctx, "", port, upnpProto(q.proto))
	switch {
	case errors.Is(gerr, ErrNoSuchEntry):
	case gerr == nil && internalHost(e) == q.internal.Addr():
	default:
		if gerr != nil {
			u.gw.log.Debug("UPnP 718 for another host; entry unreadable", "err", gerr)
		}
		return err
	}
	var ue *igd.UPnPError
	errors.As(err, &ue)
	return &secureModeError{host: q.internal.Addr(), upnp: ue}
}

// internalHost is the address an entry forwards to, or the zero Addr.
func internalHost(e *igd.PortMapping) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(e.InternalClient))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// secureModeError is a UPnP gateway's refusal to map for another host. It
// matches ErrNotAuthorized, and errors.As finds the gateway's *igd.UPnPError
// (718), but it does not match ErrPortInUse: the port was never the problem.
type secureModeError struct {
	host netip.Addr
	upnp *igd.UPnPError
}

func (e *secureModeError) Error() string {
	return fmt.Sprintf("the router refused to map for another host (UPnP secure mode), %v: %v", e.host, e.upnp)
}

func (e *secureModeError) Unwrap() error { return ErrNotAuthorized }

// As gives the gateway's UPnP error to errors.As without putting its
// ErrPortInUse in the chain.
func (e *secureModeError) As(target any) bool {
	if p, ok := target.(**igd.UPnPError); ok && e.upnp != nil {
		*p = e.upnp
		return true
	}
	return false
}

// verify reads a new mapping back, after Map returned (see verifier).
func (u *upnpMapper) verify(ctx context.Context, q *mapReq, g *grant) error {
	err := u.do(ctx, func(cl *igd.Client) error {
		_, err := u.readBack(ctx, cl, q, g.external.Port())
		return err
	})
	if errors.Is(err, ErrPortInUse) || errors.Is(err, ErrNoSuchEntry) {
		return fmt.Errorf("%w: %w", errGone, err)
	}
	return err
}

// readBack reads the entry back: some routers accept an AddPortMapping and
// keep another host's manual forward (libp2p/go-nat #8). Routers that cannot
// answer are believed (the entry is nil then).
func (u *upnpMapper) readBack(ctx context.Context, cl *igd.Client, q *mapReq, port uint16) (*igd.PortMapping, error) {
	e, err := cl.GetSpecificPortMappingEntry(ctx, "", port, upnpProto(q.proto))
	switch {
	case err == nil && !ours(e, q):
		return nil, fmt.Errorf("%w: port %d forwards to %s:%d", ErrPortInUse, port, e.InternalClient, e.InternalPort)
	case err == nil:
		return e, nil
	case errors.Is(err, ErrNoSuchEntry):
		return nil, fmt.Errorf("the gateway accepted the mapping of port %d but does not list it: %w", port, err)
	case ctx.Err() != nil:
		return nil, err
	}
	u.gw.log.Debug("UPnP verification not possible", "err", err)
	return nil, nil
}

func (u *upnpMapper) unmap(ctx context.Context, q *mapReq, g *grant) error {
	err := u.do(ctx, func(cl *igd.Client) error {
		return cl.DeletePortMapping(ctx, "", g.external.Port(), upnpProto(q.proto))
	})
	if errors.Is(err, ErrNoSuchEntry) {
		return nil
	}
	return err
}

func (u *upnpMapper) check(ctx context.Context, q *mapReq, g *grant) (netip.Addr, error) {
	var e *igd.PortMapping
	err := u.do(ctx, func(cl *igd.Client) (err error) {
		e, err = cl.GetSpecificPortMappingEntry(ctx, "", g.external.Port(), upnpProto(q.proto))
		return err
	})
	switch {
	case errors.Is(err, ErrNoSuchEntry) || err == nil && !ours(e, q):
		return netip.Addr{}, errGone
	case err != nil:
		return netip.Addr{}, err
	}
	return u.externalAddr(ctx)
}

func (u *upnpMapper) externalAddr(ctx context.Context) (netip.Addr, error) {
	var ext netip.Addr
	err := u.do(ctx, func(cl *igd.Client) (err error) {
		ext, err = cl.GetExternalIPAddress(ctx)
		return err
	})
	return ext, err
}

func (u *upnpMapper) list(ctx context.Context) ([]Entry, error) {
	var pms []igd.PortMapping
	err := u.do(ctx, func(cl *igd.Client) (err error) {
		pms, err = cl.ListPortMappings(ctx)
		return err
	})
	if err != nil && len(pms) == 0 {
		return nil, err
	}
	ext, _ := u.externalAddr(ctx)
	out := make([]Entry, 0, len(pms))
	for _, pm := range pms {
		in, _ := netip.ParseAddr(strings.TrimSpace(pm.InternalClient))
		out = append(out, Entry{
			Method:      UPnP,
			Protocol:    Protocol(strings.ToLower(pm.Protocol)),
			External:    netip.AddrPortFrom(ext, pm.ExternalPort),
			Internal:    netip.AddrPortFrom(in.Unmap(), pm.InternalPort),
			Description: pm.Description,
			Lifetime:    pm.LeaseDuration,
			Enabled:     pm.Enabled,
		})
	}
	return out, err
}

func (u *upnpMapper) remove(ctx context.Context, d DeleteRequest) error {
	err := u.do(ctx, func(cl *igd.Client) error {
		return cl.DeletePortMapping(ctx, "", d.ExternalPort, upnpProto(d.Protocol))
	})
	return err
}
