package upnpmap

import (
	"context"
	"fmt"
)

// discoverUpstream completes Discover's result behind a double NAT: it finds
// the upstream router (Client.Upstream, or findUpstream) and probes it as
// the gateway was, into res.Upstream (or res.UpstreamErr). A gateway whose
// external address is public costs nothing more.
func (c *Client) discoverUpstream(ctx context.Context, res *DiscoverResult) {
	if c.NoChain || (!c.Upstream.IsValid() && !res.ExternalPrivate) {
		return
	}
	up, err := c.Upstream.Unmap(), error(nil)
	if !up.IsValid() {
		gw, gerr := c.gateway(ctx)
		if gerr != nil {
			res.UpstreamErr = gerr
			return
		}
		if up, err = c.findUpstream(ctx, gw); !up.IsValid() {
			res.UpstreamErr = fmt.Errorf("upnpmap: %w: %w", errNoUpstream, err)
			return
		}
	}
	ugw, err := c.upstreamGateway(up)
	if err != nil {
		res.UpstreamErr = err
		return
	}
	ur, err := ugw.discover(ctx)
	if err != nil {
		res.UpstreamErr = cleanErr(fmt.Errorf("upstream router %v: %w", up, err))
		return
	}
	res.Upstream = ur
}
