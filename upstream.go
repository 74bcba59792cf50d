package upnpmap

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/upnpmap/upnpmap/reach"
)

// UpstreamReport is what Client.UpstreamNAT found.
type UpstreamReport struct {
	// External is the external address the gateway reports.
	External netip.Addr
	// Observed is the address the Client's Checker saw this machine's
	// request come from: the public address, as seen from the Internet.
	Observed netip.Addr
	// NAT is the comparison: reach.NATUpstream (UPSTREAM_NAT) when the
	// gateway's address looks public but is not the one the Internet sees,
	// reach.NATPrivate when the gateway's address is itself private or
	// shared (CGNAT), reach.NATNone when they agree.
	NAT reach.NAT
}

// UpstreamNAT finds a NAT upstream of the gateway by comparison: it asks the
// gateway for its external address (ExternalAddr) and the Client's Checker
// (a reach checker, or any STUN server: it is asked a STUN Binding request)
// which address it sees, and compares the two. A gateway whose external
// address looks public but is not the one the Internet sees sits behind
// another NAT, and no mapping on it is reachable from outside.
//
// It fails with ErrInvalidArgs without a Checker (there is no default: no
// third party is contacted unless named), with the gateway's errors as
// ExternalAddr does, and with the reach package's errors (reach.ErrCheckerDown,
// …) when the checker does not answer.
func (c *Client) UpstreamNAT(ctx context.Context) (UpstreamReport, error) {
	var r UpstreamReport
	if c.Checker == "" {
		return r, fmt.Errorf("upnpmap: %w: no checker or STUN server to compare with (Client.Checker)", ErrInvalidArgs)
	}
	ext, err := c.ExternalAddr(ctx)
	if err != nil {
		return r, err
	}
	r.External = ext
	stun := c.stunFn
	if stun == nil {
		stun = reach.STUN
	}
	seen, err := stun(ctx, c.Checker)
	if err != nil {
		return r, fmt.Errorf("upnpmap: asking %s for the address it sees: %w", c.Checker, err)
	}
	r.Observed = seen.Addr().Unmap()
	r.NAT = reach.CompareExternal(r.Observed, ext)
	if r.NAT == reach.NATUpstream {
		c.log().Warn("another NAT upstream of the gateway", "external", ext, "observed", r.Observed)
	}
	return r, nil
}

// observedNAT is the last comparison observedUpstream made.
type observedNAT struct {
	ext netip.Addr // the gateway's external address compared
	nat reach.NAT  // NATUnknown when the checker did not answer
}

// observedUpstream is the third way Map finds a double NAT (chain.go): a
// gateway whose IPv4 external address ext looks public, while the Client's
// Checker sees this machine's requests come from another address, sits
// behind another NAT (UPSTREAM_NAT, as UpstreamNAT reports it); a checker
// that sees a non-public address is not on the Internet and tells nothing.
// It asks
// only when a Checker is set (the user named that third party), once per
// external address and Client, within ProbeTimeout; a checker that does not
// answer counts as no evidence and is not asked again for that address.
func (c *Client) observedUpstream(ctx context.Context, ext netip.Addr) bool {
	ext = ext.Unmap()
	if c.Checker == "" || !ext.Is4() || reach.NotGlobal(ext) {
		return false
	}
	c.mu.Lock()
	seen := c.seen
	c.mu.Unlock()
	if seen.ext == ext {
		return seen.nat == reach.NATUpstream
	}
	stun := c.stunFn
	if stun == nil {
		stun = reach.STUN
	}
	sctx, cancel := context.WithTimeout(ctx, c.probeTimeout())
	defer cancel()
	seen = observedNAT{ext: ext, nat: reach.NATUnknown}
	if a, err := stun(sctx, c.Checker); err != nil {
		c.log().Debug("the checker did not tell the address it sees", "checker", c.Checker, "err", errText(err))
	} else {
		seen.nat = reach.CompareExternal(a.Addr(), ext)
		if reach.NotGlobal(a.Addr().Unmap()) {
			// A checker on this side of the Internet (the LAN, loopback)
			// sees a local address: no evidence either way.
			seen.nat = reach.NATUnknown
		}
		if seen.nat == reach.NATUpstream {
			c.log().Warn("another NAT upstream of the gateway", "external", ext, "observed", a.Addr().Unmap())
		}
	}
	if ctx.Err() != nil {
		return false // Map's deadline, not the checker's answer: ask again next time
	}
	c.mu.Lock()
	c.seen = seen
	c.mu.Unlock()
	return seen.nat == reach.NATUpstream
}
