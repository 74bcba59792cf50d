package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// ExternalAddr asks the gateway for its external address: by NAT-PMP or,
// failing that, UPnP, and for a gateway that speaks PCP alone by PCP, which
// has no such request: a short-lived mapping tells it, and is deleted at
// once (see pcp.Client.ExternalAddress). When the call has to probe the
// gateway first, the probe's answer is the result, without asking again.
// It does not hide a private or CGNAT answer (double NAT); see
// DiscoverResult.ExternalPrivate.
func (c *Client) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	a, _, err := c.ExternalAddrVia(ctx)
	return a, err
}

// ExternalAddrVia is ExternalAddr that also tells which method answered
// (PCP means a short-lived mapping was made and deleted).
func (c *Client) ExternalAddrVia(ctx context.Context) (_ netip.Addr, _ Method, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	gw, err := c.gateway(ctx)
	if err != nil {
		return netip.Addr{}, "", err
	}
	answered, fresh, err := gw.probedNow(ctx)
	if err != nil {
		return netip.Addr{}, "", err
	}
	if fresh != nil && fresh.ExternalAddr.IsValid() {
		// The probe just asked: NAT-PMP's probe is its external address
		// request; without NAT-PMP, the probe asked UPnP (fillExternal).
		via := UPnP
		if fresh.Has(NATPMP) {
			via = NATPMP
		}
		return fresh.ExternalAddr, via, nil
	}
	var failures []error
	// PCP last: it costs two requests and a mapping, however brief.
	for _, m := range []Method{NATPMP, UPnP, PCP} {
		mp := gw.mapper(m)
		ar, reports := mp.(addrReporter)
		if !reports {
			continue
		}
		if ok, err := gw.ready(ctx, mp); !ok {
			if err != nil {
				failures = append(failures, byMethod(m, err))
			}
			continue
		}
		var (
			a     netip.Addr
			reset bool
		)
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			a, reset, err = ar.externalAddr(ctx)
			return err
		})
		if reset {
			gw.noteReset(nil, m)
		}
		if err == nil {
			return a, m, nil
		}
		failures = append(failures, byMethod(m, err))
	}
	if len(failures) == 0 {
		return netip.Addr{}, "", fmt.Errorf("upnpmap: %w: gateway %v speaks only %v, which does not report the external address", ErrUnsupported, gw.addr, answered)
	}
	return netip.Addr{}, "", fmt.Errorf("upnpmap: external address: %w", errors.Join(failures...))
}
