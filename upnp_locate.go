package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

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
		u.gw.log.Debug("cached UPnP location unusable; searching", "location", cached, "err", errText(err))
	}
	resp, err := u.search(ctx, alive)
	if err != nil {
		return err
	}
	return u.fetch(ctx, resp.Location)
}

// multicastAfter is how long the SSDP search is unicast to the gateway
// alone before it also multicasts (where multicast is allowed at all, see
// gateway.multicast). A router that answers unicast searches does so by then
// (miniupnpd in 55–80 ms in the lab), and a single-threaded one answers
// sooner when it has fewer requests to work through: one M-SEARCH was
// answered in 55–67 ms, six (two targets, unicast and multicast, from two
// sockets) in 54–81 ms, and our next requests waited behind the rest. A
// router that ignores unicast searches is found this much later.
const multicastAfter = 100 * time.Millisecond

// unicastTargets are the search targets sent to the gateway (see
// upnpMapper.searchers).
var unicastTargets = []string{discovery.TargetIGD1, discovery.TargetWANIPConn1, discovery.TargetRootDevice}

// searchers are the SSDP searches for the gateway: unicast to it, and
// multicast where allowed (see gateway.multicast) on Client.Interfaces, or —
// for a Client.Gateway given without Interfaces — on the interface whose
// prefix holds the gateway (some routers, eero's, answer only multicast
// searches: Tailscale #3197), or every interface for a gateway from the
// routing table. multi is nil when there is no multicast search.
func (u *upnpMapper) searchers() (uni, multi *discovery.Searcher, err error) {
	// Responders wait a random time up to MX seconds before they answer,
	// and only the gateway's first answer counts: the unicast requests say
	// 1, so do the multicast ones (UDA's minimum; the default 2 spreads a
	// LAN's answers, which this search ignores).
	//
	// The unicast search also asks for upnp:rootdevice, as miniupnpc's
	// last resort does: a gateway that names its device in another domain
	// (the Huawei HG531's urn:dslforum-org:device:InternetGatewayDevice:1)
	// answers no schemas-upnp-org target, and only the gateway's own answer
	// counts, so asking for any root device finds nothing else; the
	// description then says whether it can map (fetch).
	uni = &discovery.Searcher{
		Unicast: []netip.AddrPort{netip.AddrPortFrom(u.gw.addr, 1900)},
		Targets: unicastTargets,
		IPv6:    u.gw.addr.Is6(),
		MX:      1,
		Logger:  u.gw.c.Logger,
	}
	c := u.gw.c
	if !u.gw.multicast() {
		return uni, nil, nil
	}
	var on []net.Interface
	switch {
	case c.ssdpGroup.IsValid():
		lo, err := loopbackInterface()
		if err != nil {
			return nil, nil, err
		}
		on = []net.Interface{*lo}
	case len(c.Interfaces) > 0:
		for _, name := range c.Interfaces {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: interface %q: %w", ErrInvalidArgs, name, err)
			}
			on = append(on, *ifi)
		}
	case !u.gw.fromTable:
		ifi, ok := c.interfaceFor(u.gw.addr)
		if !ok {
			return uni, nil, nil // no interface faces the gateway: unicast only
		}
		on = []net.Interface{ifi}
	}
	multi = &discovery.Searcher{Multicast: true, IPv6: u.gw.addr.Is6(), MX: 1, Logger: c.Logger,
		Group: c.ssdpGroup, Interfaces: on}
	return uni, multi, nil
}

// search waits for the first SSDP answer from the gateway.
func (u *upnpMapper) search(ctx context.Context, alive func()) (*discovery.Response, error) {
	uni, multi, err := u.searchers()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan discovery.Response, 1)
	errc := make(chan error, 1)
	go searchGateway(sctx, uni, multi, u.gw.addr, got, errc)
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

// searchGateway runs the unicast SSDP search, and multicastAfter later the
// multicast one (multi, if not nil), until ctx ends. It passes the first
// answer from gw on got and, once both searches have ended, the first setup
// error (or nil) on errc. Only the gateway itself counts: another IGD on the
// LAN is not the router our traffic goes through. An IGD answer to the
// unicast search from another address is a VRRP/CARP pair's and is taken
// with its LOCATION moved to gw (see gatewayAnswer).
func searchGateway(ctx context.Context, uni, multi *discovery.Searcher, gw netip.Addr, got chan<- discovery.Response, errc chan<- error) {
	finder := func(unicast bool) func(discovery.Response) {
		return func(r discovery.Response) {
			r, ok := gatewayAnswer(r, gw, unicast)
			if !ok {
				return
			}
			select {
			case got <- r:
			default:
			}
		}
	}
	multiErr := make(chan error, 1)
	if multi != nil {
		go searchLater(ctx, multi, finder(false), multiErr)
	} else {
		multiErr <- nil
	}
	err := uni.Search(ctx, finder(true))
	if merr := <-multiErr; err == nil {
		err = merr
	}
	errc <- err
}

// searchLater runs s after multicastAfter, unless ctx ends first.
func searchLater(ctx context.Context, s *discovery.Searcher, found func(discovery.Response), errc chan<- error) {
	t := time.NewTimer(multicastAfter)
	defer t.Stop()
	select {
	case <-t.C:
		errc <- s.Search(ctx, found)
	case <-ctx.Done():
		errc <- nil
	}
}

// fetch reads the description at loc and picks the connection service to
// map on: every service of igd.ServiceTypes the device offers is a
// candidate, in that order of preference, and igd.Choose asks each for
// GetStatusInfo when there are several (a multi-WAN MikroTik, an IP and a
// PPP connection) and takes a connected one. A device with no such service
// is an error wrapping ErrUnusableDevice that names what it offers.
func (u *upnpMapper) fetch(ctx context.Context, loc *url.URL) error {
	root, err := discovery.Fetch(ctx, loc, u.gw.addr, nil)
	if err != nil {
		return err
	}
	svcs, err := root.Usable(igd.ServiceTypes...)
	if err != nil {
		return fmt.Errorf("upnpmap: UPnP device at %v: %w", loc.Redacted(), err)
	}
	var cands []*igd.Client
	for _, s := range svcs {
		if s.ControlURL == nil {
			continue
		}
		cands = append(cands, &igd.Client{ControlURL: s.ControlURL, ServiceType: s.ServiceType, Logger: u.gw.c.Logger})
	}
	if len(cands) == 0 {
		return fmt.Errorf("upnpmap: UPnP device at %v: %w: no connection service has a control URL (%s)",
			loc.Redacted(), ErrUnusableDevice, root.Offered())
	}
	if len(cands) > 1 {
		// Choosing sends a GetStatusInfo per candidate: one exchange more
		// for the governor, whatever made us locate the service.
		if err := u.gw.gov.wait(ctx); err != nil {
			return err
		}
	}
	cl, _, err := igd.Choose(ctx, cands)
	if err != nil {
		return err
	}
	var ev *url.URL
	for _, s := range svcs {
		if s.ControlURL == cl.ControlURL || s.ControlURL != nil && s.ControlURL.String() == cl.ControlURL.String() {
			ev = s.EventSubURL
			break
		}
	}
	var udns []string
	for _, d := range root.Devices() {
		if udn := strings.TrimSpace(d.UDN); udn != "" {
			udns = append(udns, udn)
		}
	}
	u.mu.Lock()
	u.cl, u.location, u.device, u.udns, u.eventURL = cl, loc.String(), routerText(root.Device.FriendlyName), udns, ev
	u.mu.Unlock()
	u.gw.log.Debug("UPnP service", "type", cl.ServiceType, "control", cl.ControlURL.Redacted(), "candidates", len(cands))
	return nil
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
	u.gw.log.Info("UPnP control URL unreachable; searching again", "control", cl.ControlURL, "err", errText(err))
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

// loopbackInterface finds the loopback interface (for tests' stand-in SSDP
// group, see Client.ssdpGroup).
func loopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("no loopback interface")
}
