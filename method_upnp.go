package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
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
	// udns are the UDNs of the located description's devices: its SSDP
	// NOTIFYs carry them in their USN (see ownsUSN).
	udns []string
	// eventURL is the chosen connection service's eventSubURL (nil: none),
	// for the GENA subscriber.
	eventURL *url.URL
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
func (u *upnpMapper) secureMode(ctx context.Context, q *mapReq, port uint16, err error) error {
	_, state, lerr := u.lookup(ctx, q, port)
	switch state {
	case entryMissing, entryOurs:
	default:
		if lerr != nil {
			u.gw.log.Debug("UPnP 718 for another host; entry unreadable", "err", errText(lerr))
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
	_, err := u.readBack(ctx, q, g.external.Port())
	if errors.Is(err, ErrPortInUse) || errors.Is(err, ErrNoSuchEntry) {
		return fmt.Errorf("%w: %w", errGone, err)
	}
	return err
}

// entryState is what the gateway's table says about one port.
type entryState int

const (
	entryUnknown entryState = iota // the gateway did not say (err tells why)
	entryOurs                      // it forwards to q's internal address and port
	entryOther                     // it forwards elsewhere
	entryMissing                   // no entry (NoSuchEntryInArray)
)

// lookup reads the entry at port for q's protocol back
// (GetSpecificPortMappingEntry): the one helper through which every
// read-back goes — after an add, before a renewal, in a check, in telling
// secure mode from a conflict.
func (u *upnpMapper) lookup(ctx context.Context, q *mapReq, port uint16) (*igd.PortMapping, entryState, error) {
	var e *igd.PortMapping
	err := u.do(ctx, func(cl *igd.Client) (err error) {
		e, err = cl.GetSpecificPortMappingEntry(ctx, "", port, upnpProto(q.proto))
		return err
	})
	switch {
	case err == nil && ours(e, q):
		return e, entryOurs, nil
	case err == nil:
		return e, entryOther, nil
	case errors.Is(err, ErrNoSuchEntry):
		return nil, entryMissing, err
	}
	return nil, entryUnknown, err
}

// readBack checks a new or renewed entry: some routers accept an
// AddPortMapping and keep another host's manual forward (libp2p/go-nat #8).
// Routers that cannot answer are believed (the entry is nil then).
func (u *upnpMapper) readBack(ctx context.Context, q *mapReq, port uint16) (*igd.PortMapping, error) {
	e, state, err := u.lookup(ctx, q, port)
	switch {
	case state == entryOurs:
		return e, nil
	case state == entryOther:
		return nil, fmt.Errorf("%w: port %d forwards to %s:%d", ErrPortInUse, port, routerText(e.InternalClient), e.InternalPort)
	case state == entryMissing:
		return nil, fmt.Errorf("the gateway accepted the mapping of port %d but does not list it: %w", port, err)
	case ctx.Err() != nil:
		return nil, err
	}
	u.gw.log.Debug("UPnP verification not possible", "err", errText(err))
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
	switch _, state, err := u.lookup(ctx, q, g.external.Port()); state {
	case entryMissing, entryOther:
		return netip.Addr{}, errGone
	case entryUnknown:
		return netip.Addr{}, err
	}
	return u.external(ctx)
}

// external is GetExternalIPAddress.
func (u *upnpMapper) external(ctx context.Context) (netip.Addr, error) {
	var ext netip.Addr
	err := u.do(ctx, func(cl *igd.Client) (err error) {
		ext, err = cl.GetExternalIPAddress(ctx)
		return err
	})
	return ext, err
}

func (u *upnpMapper) externalAddr(ctx context.Context) (netip.Addr, bool, error) {
	ext, err := u.external(ctx)
	return ext, false, err
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
	ext, _ := u.external(ctx)
	out := make([]Entry, 0, len(pms))
	for _, pm := range pms {
		in, _ := netip.ParseAddr(strings.TrimSpace(pm.InternalClient))
		out = append(out, Entry{
			Method:      UPnP,
			Protocol:    Protocol(strings.ToLower(pm.Protocol)),
			External:    netip.AddrPortFrom(ext, pm.ExternalPort),
			Internal:    netip.AddrPortFrom(in.Unmap(), pm.InternalPort),
			Description: routerText(pm.Description),
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
