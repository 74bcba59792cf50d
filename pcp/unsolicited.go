package pcp

import (
	"fmt"
	"net/netip"
)

// CheckUnsolicited validates a response that arrived without a request: an
// ANNOUNCE after the server restarted, or a MAP response after a mapping
// changed (§14), received on port 5350 from from. It must come from the
// Client's server (any source port) and parse; its epoch goes through the
// §8.5 check, whose verdict is in GatewayReset. Matching a MAP response's
// nonce to a mapping is the caller's job.
func (c *Client) CheckUnsolicited(b []byte, from netip.AddrPort) (*Response, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if from.Addr().Unmap().WithZone("") != srv.Addr().WithZone("") {
		return nil, fmt.Errorf("pcp: unsolicited response from %v, not from the server %v", from, srv.Addr())
	}
	r, err := ParseResponse(b)
	if err != nil {
		return nil, err
	}
	if r.Version != Version {
		return nil, fmt.Errorf("%w: unsolicited PCP version %d", ErrMalformed, r.Version)
	}
	c.observeEpoch(r.Epoch)
	r.GatewayReset = c.takeReset()
	return r, nil
}
