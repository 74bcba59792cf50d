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
