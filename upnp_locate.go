package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/igd"
)

// Finding the UPnP connection service of the gateway: a cached description
// URL, else an SSDP search; and finding it again when the control URL moves.

// locate finds the connection service: from Client.Location the first time
// (when set), else by an SSDP search unicast to the gateway (and multicast
// where allowed). alive is called when the SSDP answer is in.
func (u *upnpMapper) locate(ctx context.Context, alive func()) error {
	u.mu.Lock()
	cached := u.gw.c.Location
	if u.tried {
		cached = ""
	}
	u.tried = true
	u.mu.Unlock()
	if cached != "" {
		loc, err := url.Parse(cached)
		if err == nil {
			if err = u.fetch(ctx, loc); err == nil {
				return nil
			}
		}
		u.gw.log.Debug("cached UPnP location unusable; searching", "location", cached, "err", err)
	}
	resp, err := u.search(ctx, alive)
	if err != nil {
		return err
	}
	return u.fetch(ctx, resp.Location)
}

// search waits for the first SSDP answer from the gateway.
func (u *upnpMapper) search(ctx context.Context, alive func()) (*discovery.Response, error) {
	s := &discovery.Searcher{
		Unicast:   []netip.AddrPort{netip.AddrPortFrom(u.gw.addr, 1900)},
		Multicast: u.gw.multicast(),
		IPv6:      u.gw.addr.Is6(),
		Logger:    u.gw.c.Logger,
	}
	if s.Multicast {
		for _, name := range u.gw.c.Interfaces {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return nil, fmt.Errorf("%w: interface %q: %w", ErrInvalidArgs, name, err)
			}
			s.Interfaces = append(s.Interfaces, *ifi)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan discovery.Response, 1)
	errc := make(chan error, 1)
	go searchGateway(sctx, s, u.gw.addr, got, errc)
	select {
	case r := <-got:
		cancel()
		<-errc
		if alive != nil {
			alive()
		}
		return &r, nil
	case err := <-errc:
		if ctx.Err() != nil || err == nil {
			return nil, fmt.Errorf("%w: no SSDP answer from %v: %w", ErrTimeout, u.gw.addr, context.Cause(sctx))
		}
		return nil, err
	}
}

// searchGateway runs an SSDP search until ctx ends, passing the first answer
// from gw on got and the search's end on errc. Only the gateway itself
// counts: another IGD on the LAN is not the router our traffic goes through.
func searchGateway(ctx context.Context, s *discovery.Searcher, gw netip.Addr, got chan<- discovery.Response, errc chan<- error) {
	errc <- s.Search(ctx, func(r discovery.Response) {
		if r.From.Addr().Unmap() != gw || r.Location == nil {
			return
		}
		select {
		case got <- r:
		default:
		}
	})
}

// fetch reads the description at loc and picks the preferred connection
// service.
func (u *upnpMapper) fetch(ctx context.Context, loc *url.URL) error {
	root, err := discovery.Fetch(ctx, loc, u.gw.addr, nil)
	if err != nil {
		return err
	}
	for _, st := range igd.ServiceTypes {
		svcs := root.Services(st)
		if len(svcs) == 0 || svcs[0].ControlURL == nil {
			continue
		}
		cl := &igd.Client{ControlURL: svcs[0].ControlURL, ServiceType: svcs[0].ServiceType, Logger: u.gw.c.Logger}
		u.mu.Lock()
		u.cl, u.location, u.device = cl, loc.String(), root.Device.FriendlyName
		u.mu.Unlock()
		u.gw.log.Debug("UPnP service", "type", st, "control", cl.ControlURL)
		return nil
	}
	return fmt.Errorf("%w: %v describes no WANIPConnection or WANPPPConnection service", ErrUnsupported, loc)
}

// do runs fn with the service's client, locating it first if needed. When
// the control URL refuses connections (the router restarted on another
// port, go-libp2p #3224) it locates the service again by a search unicast
// to the gateway and runs fn once more.
func (u *upnpMapper) do(ctx context.Context, fn func(cl *igd.Client) error) error {
	cl := u.client()
	if cl == nil {
		if err := u.locate(ctx, nil); err != nil {
			return err
		}
		cl = u.client()
	}
	err := fn(cl)
	if !errors.Is(err, igd.ErrUnreachable) || ctx.Err() != nil {
		return err
	}
	u.gw.log.Info("UPnP control URL unreachable; searching again", "control", cl.ControlURL, "err", err)
	u.mu.Lock()
	u.cl = nil
	u.mu.Unlock()
	if err := u.locateFresh(ctx); err != nil {
		return err
	}
	return fn(u.client())
}

// locateFresh searches and fetches, ignoring Client.Location.
func (u *upnpMapper) locateFresh(ctx context.Context) error {
	resp, err := u.search(ctx, nil)
	if err != nil {
		return err
	}
	return u.fetch(ctx, resp.Location)
}
