package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// Adopting a mapping across a restart: Mapping.Export writes down what a
// later process needs, and Client.Adopt takes the mapping over — checked on
// the router first — instead of asking for a new one, so the external port
// survives the restart.

// ErrStale: a Record cannot be adopted — its lease ended, or the router no
// longer holds the mapping as recorded (gone, moved to another port or host,
// another gateway). The caller maps afresh.
var ErrStale = errors.New("mapping record is stale")

// A Record describes a live mapping for a later process (Mapping.Export,
// Client.Adopt). It marshals to JSON; its zero value adopts nothing.
type Record struct {
	Method   Method         `json:"method"`
	Gateway  netip.Addr     `json:"gateway"`
	Protocol Protocol       `json:"protocol"`
	Internal netip.AddrPort `json:"internal"`
	External netip.AddrPort `json:"external"`
	// Nonce is the PCP mapping nonce: a renewal must present it (RFC 6887
	// §11.2.1), or the router treats the request as another client's.
	Nonce [12]byte `json:"nonce"`
	// Lifetime is the lease granted last; 0 is a permanent UPnP lease.
	Lifetime time.Duration `json:"lifetime"`
	// Expires is when that lease ends; zero for a permanent one.
	Expires time.Time `json:"expires"`
	// Requested is the lease the mapping asks for at each renewal.
	Requested time.Duration `json:"requested,omitempty"`
	// Asked is the UPnP lease last asked for (0 after a router that takes
	// only permanent leases answered 725).
	Asked       time.Duration `json:"asked,omitempty"`
	Description string        `json:"description,omitempty"`
	// Location is the UPnP description URL; it spares Adopt a search.
	Location string `json:"location,omitempty"`
	// Upstream is the upstream router's leg of a mapping chained through
	// a double NAT (see Mapping.Legs): Gateway is that router, Internal the
	// gateway's WAN address and the inner leg's external port. Nil when
	// the mapping is not chained.
	Upstream *Record `json:"upstream,omitempty"`
}

// Export describes the mapping for Client.Adopt in a later process; call it
// before Detach (which leaves the mapping on the router). It reads the
// current grant, so a record exported after a renewal carries the new lease.
func (m *Mapping) Export() Record {
	rec := m.exportLeg()
	if ch := m.chain.Load(); ch != nil {
		if o := ch.outerMapping(); o != nil {
			up := o.exportLeg()
			rec.Upstream = &up
		}
	}
	return rec
}

// exportLeg is Export for one router's leg.
func (m *Mapping) exportLeg() Record {
	g := m.grant()
	return Record{
		Method:      m.mp.method(),
		Gateway:     m.Gateway(),
		Protocol:    m.q.proto,
		Internal:    g.internal,
		External:    g.external,
		Nonce:       g.nonce,
		Lifetime:    g.lifetime,
		Expires:     g.expires(),
		Requested:   m.q.lifetime,
		Asked:       g.asked,
		Description: m.q.description,
		Location:    m.Location(),
	}
}

// adopter is implemented by the methods that can take over a recorded
// mapping: each checks it on the router and returns its current grant.
type adopter interface {
	// adoptGrant checks prev, the recorded grant, on the router: UPnP reads
	// the entry back; PCP renews it with its nonce; NAT-PMP renews it
	// suggesting its external port. A mapping the router no longer holds as
	// recorded is an ErrStale error.
	adoptGrant(ctx context.Context, q *mapReq, prev *grant, rec Record) (*grant, error)
}

// Adopt takes over the mapping rec describes (from Mapping.Export in an
// earlier process) while its lease runs: it checks it on the router first,
// then returns a Mapping that is renewed, recovered and closed like one from
// Map. It sends no new mapping request: UPnP reads the entry back
// (GetSpecificPortMappingEntry), PCP renews with the saved nonce, NAT-PMP
// renews suggesting the saved port. A record whose lease has ended, for
// another gateway, or that the router no longer holds as recorded is an
// error wrapping ErrStale (the caller then maps afresh); a record that
// cannot describe a mapping wraps ErrInvalidArgs.
//
// A mapping chained through a double NAT (rec.Upstream set) has its
// upstream leg adopted the same way, on the upstream router; when that leg
// is stale the chain makes a new one, as Map does (see Mapping.Legs,
// UpstreamErr). A mapping recorded without an upstream leg is chained as
// Map would chain it. Only the inner leg's failure fails Adopt.
func (c *Client) Adopt(ctx context.Context, rec Record) (_ *Mapping, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	if err := checkRecord(rec); err != nil {
		return nil, err
	}
	if !rec.Expires.IsZero() && !c.clock().Now().Before(rec.Expires) {
		return nil, fmt.Errorf("%s: %w: its lease ended at %v", adoptWhat(rec), ErrStale, rec.Expires.Format(time.RFC3339))
	}
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	m, err := c.adoptOn(ctx, gw, rec, netip.Addr{})
	if err != nil {
		return nil, err
	}
	return c.adoptChain(ctx, m, rec.Upstream), nil
}

// adoptWhat names rec in Adopt's errors.
func adoptWhat(rec Record) string {
	return fmt.Sprintf("upnpmap: adopt %s %d via %s", rec.Protocol, rec.External.Port(), rec.Method)
}

// checkRecord rejects a record that cannot describe a mapping.
func checkRecord(rec Record) error {
	switch rec.Method {
	case PCP, NATPMP, UPnP:
	default:
		return fmt.Errorf("upnpmap: %w: cannot adopt a mapping made by %q", ErrInvalidArgs, rec.Method)
	}
	if rec.External.Port() == 0 || rec.Internal.Port() == 0 {
		return fmt.Errorf("upnpmap: %w: a record needs its internal and external ports", ErrInvalidArgs)
	}
	if rec.Method == PCP && rec.Nonce == ([12]byte{}) {
		return fmt.Errorf("upnpmap: %w: a PCP record needs its nonce", ErrInvalidArgs)
	}
	return nil
}

// adoptOn adopts rec's leg on gw (checked by checkRecord, its lease still
// running); via is the address gw sees the requests come from when it is
// the upstream router of a double NAT (the gateway's WAN address), zero
// otherwise.
func (c *Client) adoptOn(ctx context.Context, gw *gateway, rec Record, via netip.Addr) (*Mapping, error) {
	what := adoptWhat(rec)
	if rec.Gateway.IsValid() && rec.Gateway.Unmap() != gw.addr {
		return nil, fmt.Errorf("%s: %w: it was made on gateway %v, not %v", what, ErrStale, rec.Gateway, gw.addr)
	}
	mp := gw.mapper(rec.Method)
	ad, ok := mp.(adopter)
	if !ok {
		return nil, fmt.Errorf("%s: %w: method not enabled", what, ErrInvalidArgs)
	}
	q, err := Request{
		Protocol:     rec.Protocol,
		InternalPort: rec.Internal.Port(),
		InternalAddr: rec.Internal.Addr(),
		ExternalPort: rec.External.Port(),
		Description:  rec.Description,
		Lifetime:     rec.Requested,
		via:          via,
	}.normalize(gw.local)
	if err != nil {
		return nil, err
	}
	prev := &grant{
		external: rec.External,
		internal: q.internal,
		lifetime: rec.Lifetime,
		nonce:    rec.Nonce,
		asked:    rec.Asked,
	}
	var g *grant
	// Exempt from the governor, as a mapping's first request is.
	err = gw.callExempt(ctx, func(ctx context.Context) (err error) {
		g, err = ad.adoptGrant(ctx, q, prev, rec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m := gw.adopt(mp, q, g)
	m.log.Info("adopted", "external", g.external, "expires", m.Expires())
	return m, nil
}

// samePort turns a renewal that the router answered with another external
// port into ErrStale, deleting what it granted: the recorded mapping was
// lost, and the caller, told so, maps afresh.
func samePort(ctx context.Context, mp mapper, q *mapReq, prev, g *grant) (*grant, error) {
	if g.external.Port() == prev.external.Port() {
		return g, nil
	}
	_ = mp.unmap(ctx, q, g) // best effort: the caller maps afresh anyway
	return nil, fmt.Errorf("%w: the router granted port %d instead", ErrStale, g.external.Port())
}

// adoptGrant renews the mapping with its saved nonce (a renewal, not a new
// mapping: RFC 6887 §11.2.1).
func (p *pcpMapper) adoptGrant(ctx context.Context, q *mapReq, prev *grant, _ Record) (*grant, error) {
	g, err := p.mapPort(ctx, q, prev)
	if err != nil {
		return nil, fmt.Errorf("%w: the router refused the renewal: %w", ErrStale, err)
	}
	return samePort(ctx, p, q, prev, g)
}

// adoptGrant renews the mapping suggesting its saved port (RFC 6886 §3.3).
func (n *natpmpMapper) adoptGrant(ctx context.Context, q *mapReq, prev *grant, _ Record) (*grant, error) {
	g, err := n.mapPort(ctx, q, prev)
	if err != nil {
		return nil, fmt.Errorf("%w: the router refused the renewal: %w", ErrStale, err)
	}
	return samePort(ctx, n, q, prev, g)
}

// adoptGrant reads the entry back; it changes nothing on the router. The
// recorded description URL, when the mapper has none yet, spares a search.
func (u *upnpMapper) adoptGrant(ctx context.Context, q *mapReq, prev *grant, rec Record) (*grant, error) {
	if u.client() == nil && rec.Location != "" {
		if loc, err := url.Parse(rec.Location); err == nil {
			if err := u.fetch(ctx, loc); err != nil {
				u.gw.log.Debug("recorded UPnP location unusable; searching", "location", rec.Location, "err", errText(err))
			}
		}
	}
	e, state, err := u.lookup(ctx, q, prev.external.Port())
	switch state {
	case entryMissing:
		return nil, fmt.Errorf("%w: %w", ErrStale, err)
	case entryOther:
		return nil, fmt.Errorf("%w: port %d now forwards to %s:%d", ErrStale, prev.external.Port(), routerText(e.InternalClient), e.InternalPort)
	case entryUnknown:
		return nil, err
	}
	ext := prev.external.Addr()
	if a, err := u.external(ctx); err == nil && a.IsValid() {
		ext = a // it may have changed while no process watched
	}
	return &grant{
		external: netip.AddrPortFrom(ext, prev.external.Port()),
		internal: q.internal,
		lifetime: e.LeaseDuration, // what is left of the lease
		asked:    prev.asked,
	}, nil
}
