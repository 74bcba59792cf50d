package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
)

// findLocation6 finds the gateway's IPv6 description URL again, after its
// control URL stopped answering (a router restarts its HTTP server on
// another port). With Client.Location6 set, it searches by SSDP over IPv6,
// unicast to that URL's host, and failing that moves the IPv4 description
// URL, searched for again, to that host; without Location6 it does the
// latter with the IPv6 router's address (see location6).
func (gw *gateway) findLocation6(ctx context.Context) (*url.URL, error) {
	c := gw.c
	if c.Location6 == "" {
		if _, err := gw.locate4Again(ctx); err != nil {
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
	loc, err := search(ctx, host)
	if err == nil || ctx.Err() != nil {
		return loc, err
	}
	loc4, err4 := gw.locate4Again(ctx)
	if err4 != nil {
		return nil, fmt.Errorf("%w (and the IPv4 description: %w)", err, err4)
	}
	if v := onHost(loc4, old.Hostname()); v != nil {
		return v, nil
	}
	return nil, err
}

// locate4Again searches for the IPv4 description again (the port of a
// restarted router's HTTP server moves, and miniupnpd serves both families
// on one port) and returns its URL.
func (gw *gateway) locate4Again(ctx context.Context) (*url.URL, error) {
	up, ok := gw.mapper(UPnP).(*upnpMapper)
	if !ok {
		return nil, fmt.Errorf("%w: no UPnP method to search with", ErrUnsupported)
	}
	if err := up.locateFresh(ctx); err != nil {
		return nil, err
	}
	return url.Parse(up.locationURL())
}

// search6 asks host for its description URL by a unicast SSDP search over
// IPv6 and returns the first answer's LOCATION (its host set to the
// answer's source, discovery's policy).
func (gw *gateway) search6(ctx context.Context, host netip.Addr) (*url.URL, error) {
	wait := gw.c.requestTimeout()
	if dl, ok := ctx.Deadline(); ok {
		// Half of what the caller has: the fallback (the IPv4
		// description) needs the rest.
		wait = min(wait, time.Until(dl)/2)
	}
	sctx, cancel := context.WithTimeout(ctx, wait)
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
