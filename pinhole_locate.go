package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/upnpmap/upnpmap/discovery"
)

// findLocation6 finds the gateway's IPv6 description URL again, after its
// control URL stopped answering (a router restarts its HTTP server on
// another port). With Client.Location6 set, it searches by SSDP over IPv6,
// unicast to that URL's host; otherwise it searches for the IPv4
// description again, as the IPv4 mapping does, and moves it to the IPv6
// router's address (see location6).
func (gw *gateway) findLocation6(ctx context.Context) (*url.URL, error) {
	c := gw.c
	if c.Location6 == "" {
		up, ok := gw.mapper(UPnP).(*upnpMapper)
		if !ok {
			return nil, fmt.Errorf("%w: no UPnP method to search with", ErrUnsupported)
		}
		if err := up.locateFresh(ctx); err != nil {
			return nil, err
		}
		if loc := gw.location6(); loc != nil {
			return loc, nil
		}
		return nil, fmt.Errorf("%w: no IPv6 router address to move the description URL to", ErrNoGateway)
	}
	old, err := url.Parse(c.Location6)
	if err != nil {
		return nil, fmt.Errorf("%w: Location6: %w", ErrInvalidArgs, err)
	}
	host, err := netip.ParseAddr(old.Hostname())
	if err != nil {
		return nil, fmt.Errorf("%w: Location6 host %q is not an address", ErrInvalidArgs, old.Hostname())
	}
	search := c.search6
	if search == nil {
		search = gw.search6
	}
	return search(ctx, host)
}

// search6 asks host for its description URL by a unicast SSDP search over
// IPv6 and returns the first answer's LOCATION (its host set to the
// answer's source, discovery's policy).
func (gw *gateway) search6(ctx context.Context, host netip.Addr) (*url.URL, error) {
	sctx, cancel := context.WithTimeout(ctx, gw.c.requestTimeout())
	defer cancel()
	s := &discovery.Searcher{
		Unicast: []netip.AddrPort{netip.AddrPortFrom(host, 1900)},
		Targets: unicastTargets,
		IPv6:    true,
		MX:      1,
		Logger:  gw.c.Logger,
	}
	var loc *url.URL
	err := s.Search(sctx, func(r discovery.Response) {
		if loc == nil && r.Location != nil && r.From.Addr().WithZone("") == host.WithZone("") {
			loc = r.Location
			cancel()
		}
	})
	if loc != nil {
		return loc, nil
	}
	if err == nil || sctx.Err() != nil {
		return nil, fmt.Errorf("%w: no SSDP answer from %v", ErrTimeout, host)
	}
	return nil, err
}
