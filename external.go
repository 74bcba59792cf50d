package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// ExternalAddr asks the gateway for its external address: by NAT-PMP or,
// failing that, UPnP (PCP has no such request). It does not hide a private
// or CGNAT answer (double NAT); see DiscoverResult.ExternalPrivate.
func (c *Client) ExternalAddr(ctx context.Context) (_ netip.Addr, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	gw, err := c.gateway(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	answered, err := gw.probed(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	var failures []error
	for _, m := range []Method{NATPMP, UPnP} {
		mp := gw.mapper(m)
		ar, reports := mp.(addrReporter)
		if !reports {
			continue
		}
		if ok, err := gw.ready(ctx, mp); !ok {
			if err != nil {
				failures = append(failures, fmt.Errorf("%s: %w", m, err))
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
			return a, nil
		}
		failures = append(failures, fmt.Errorf("%s: %w", m, err))
	}
	if len(failures) == 0 {
		return netip.Addr{}, fmt.Errorf("upnpmap: %w: gateway %v speaks only %v, which does not report the external address", ErrUnsupported, gw.addr, answered)
	}
	return netip.Addr{}, fmt.Errorf("upnpmap: external address: %w", errors.Join(failures...))
}
