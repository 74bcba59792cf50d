package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap/igd"
)

// mapPort creates, renews or restores a UPnP mapping as a sequence of
// steps: on renewal, check that the entry is still there (vanished); read
// the external address; add the entry (upnpAdd.at, which falls back to a
// permanent lease and reads the entry back where needed); on a conflict,
// move to another port (upnpAdd.elsewhere); make the grant.
func (u *upnpMapper) mapPort(ctx context.Context, q *mapReq, prev *grant) (*grant, error) {
	a := &upnpAdd{u: u, q: q, lease: q.lifetime, renewal: prev != nil}
	port := q.wish
	var reset bool
	if prev != nil {
		// Renewal: re-suggest what was granted and ask for the lease last
		// asked (0 after a 725).
		port, a.lease = prev.external.Port(), prev.asked
		var err error
		if reset, err = u.vanished(ctx, q, port); err != nil {
			return nil, err
		}
	}
	// The external address first: a router whose GetExternalIPAddress fails
	// gets no permanent entry we could not describe (Tailscale #20781).
	ext, err := u.external(ctx)
	if err != nil {
		return nil, err
	}
	a.cl = u.client()
	entry, err := a.at(ctx, port)
	if errors.Is(err, ErrPortInUse) && !q.exact {
		port, entry, err = a.elsewhere(ctx, port)
	}
	if err != nil {
		return nil, err
	}
	g := a.grant(netip.AddrPortFrom(ext, port), entry)
	g.reset = reset
	return g, nil
}

// vanished says, before a renewal, whether the entry is gone: a router that
// rebooted or purged its table (Tailscale #10597) lost it, and re-adding it
// is a restoration, which the caller reports. A gateway that cannot say is
// believed to hold it.
func (u *upnpMapper) vanished(ctx context.Context, q *mapReq, port uint16) (bool, error) {
	_, state, err := u.lookup(ctx, q, port)
	if state == entryUnknown && err != nil && ctx.Err() != nil {
		return false, err
	}
	return state == entryMissing || state == entryOther, nil
}

// upnpAdd is one AddPortMapping sequence: the lease it asks for (0 once the
// gateway wanted a permanent one) and whether entries are read back at once.
type upnpAdd struct {
	u       *upnpMapper
	cl      *igd.Client
	q       *mapReq
	lease   time.Duration
	renewal bool
}

// at adds the entry at port. A 725 (or 402 to a lease) makes the lease
// permanent, once: such an entry is deleted on Close. The entry is read back
// here when nobody waits for the answer (a renewal) or when only the entry
// tells the real lease (a permanent one); a new entry with a lease is read
// back by the mapping's goroutine after Map returned (see verifier).
func (a *upnpAdd) at(ctx context.Context, port uint16) (*igd.PortMapping, error) {
	err := a.add(ctx, port)
	if igd.IsRetryWithPermanentLease(err) && a.lease != 0 {
		a.u.gw.log.Debug("UPnP gateway wants a permanent lease", "err", errText(err))
		a.lease = 0
		err = a.add(ctx, port)
	}
	if err != nil || !a.readNow() {
		return nil, err
	}
	return a.u.readBack(ctx, a.q, port)
}

// readNow says whether an added entry is read back at once (see at).
func (a *upnpAdd) readNow() bool { return a.renewal || a.lease == 0 }

// add sends one AddPortMapping. A 718 to a mapping for another host may be
// secure mode rather than a conflict (see secureMode).
func (a *upnpAdd) add(ctx context.Context, port uint16) error {
	var err error
	if a.renewal {
		err = a.cl.AddPortMapping(ctx, a.mapping(port))
	} else {
		err = a.addNew(ctx, port)
	}
	if a.q.thirdParty && upnpCode(err) == igd.CodeConflictInMappingEntry {
		err = a.u.secureMode(ctx, a.q, port, err)
	}
	return err
}

// addNew sends the AddPortMapping of a new mapping and reads its answer even
// if ctx ends while the request is at the gateway: cut short there, the
// gateway would hold an entry that nobody renews or deletes, which a permanent
// lease (after a 725) keeps for good. So the exchange is detached from ctx
// (cl.Timeout still bounds it, as it bounds every SOAP request), and when
// ctx ended meanwhile the entry is deleted (within Client.CloseTimeout) and
// ctx's error returned. Nothing is sent when ctx has already ended. The
// pinhole's twin is upnpPinhole.addNew.
func (a *upnpAdd) addNew(ctx context.Context, port uint16) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := a.cl.AddPortMapping(context.WithoutCancel(ctx), a.mapping(port))
	if err != nil || ctx.Err() == nil {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.u.gw.c.closeTimeout())
	defer cancel()
	if derr := a.cl.DeletePortMapping(dctx, "", port, upnpProto(a.q.proto)); derr != nil {
		a.u.gw.log.Warn("deleting a mapping added after Map was given up", "port", port, "err", errText(derr))
		return fmt.Errorf("%w (and deleting port %d, mapped meanwhile: %w)", ctx.Err(), port, derr)
	}
	a.u.gw.log.Debug("mapping added after Map was given up; deleted", "port", port)
	return ctx.Err()
}

func (a *upnpAdd) mapping(port uint16) igd.PortMapping {
	return igd.PortMapping{
		Protocol:       upnpProto(a.q.proto),
		ExternalPort:   port,
		InternalPort:   a.q.internal.Port(),
		InternalClient: a.q.internal.Addr().String(),
		Enabled:        true,
		Description:    a.q.description,
		LeaseDuration:  a.lease,
	}
}

// v2 says whether the service is IGD:2's (AddAnyPortMapping, lease 0 read
// as the maximum).
func (a *upnpAdd) v2() bool { return strings.HasSuffix(a.cl.ServiceType, ":2") }

// elsewhere moves a mapping whose port is taken: IGD:2's AddAnyPortMapping
// once, then the next ports, at most maxPortTries of them.
func (a *upnpAdd) elsewhere(ctx context.Context, port uint16) (uint16, *igd.PortMapping, error) {
	if a.v2() {
		reserved, err := a.cl.AddAnyPortMapping(ctx, a.mapping(port))
		if err == nil && reserved != 0 {
			var entry *igd.PortMapping
			if a.readNow() {
				entry, err = a.u.readBack(ctx, a.q, reserved)
			}
			if err == nil {
				return reserved, entry, nil
			}
		}
		a.u.gw.log.Debug("UPnP AddAnyPortMapping", "err", errText(err))
	}
	for range maxPortTries {
		port = nextPort(port)
		entry, err := a.at(ctx, port)
		if !errors.Is(err, ErrPortInUse) {
			return port, entry, err
		}
	}
	return 0, nil, fmt.Errorf("%w: %d ports tried from %d", ErrPortInUse, maxPortTries+1, a.q.wish)
}

// grant makes the granted entry a grant. A lease asked as permanent is
// permanent unless the gateway says otherwise: the entry read back tells
// its real length, and IGD:2 reads lease 0 as its maximum (upnpMaxLease),
// so it is renewed before that runs out.
func (a *upnpAdd) grant(external netip.AddrPort, entry *igd.PortMapping) *grant {
	g := &grant{
		external:   external,
		internal:   a.q.internal,
		asked:      a.lease,
		lifetime:   a.lease,
		unverified: !a.readNow(),
	}
	if a.lease == 0 {
		switch {
		case entry != nil:
			g.lifetime = entry.LeaseDuration
		case a.v2():
			g.lifetime = upnpMaxLease
		}
	}
	return g
}
