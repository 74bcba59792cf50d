//go:build !linux

package upnpmap

import (
	"context"
	"errors"
	"net/netip"
)

// probeUpstream has no implementation here (see upstream_probe.go): the
// upstream router of a double NAT is found only on Linux; elsewhere set
// Client.Upstream (the CLI's --upstream).
func probeUpstream(ctx context.Context, gw, local netip.Addr) (netip.Addr, error) {
	return netip.Addr{}, errors.New("finding the upstream router automatically needs Linux; set it (--upstream IP)")
}
