package upnpmap

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
)

// gateway is what a Client knows about one router: its methods, the cached
// probe, the live mappings and the announcement listener.
type gateway struct {
	c         *Client
	addr      netip.Addr
	local     netip.Addr // our address on the gateway's link
	fromTable bool       // found in the routing table (multicast SSDP allowed)
	// upstream: the outer router of a double NAT (chain.go), reached
	// through the inner router's NAT: no multicast reaches it, and its
	// announcements and GENA callbacks never reach this machine.
	upstream bool
	log      *slog.Logger
	mappers  []mapper // the enabled methods, in preference order
	// all are the mappers of every method, enabled or not: announcements
	// are read with each protocol's parser, whichever methods map.
	all []mapper

	// sem serialises the calls that touch the gateway's table, across all
	// mappings of the Client: some routers fail under concurrent SOAP
	// requests, and NAT-PMP wants one request at a time. A channel rather
	// than a mutex so that waiting honours contexts.
	sem chan struct{}
	// gov is the ceiling on requests to the gateway (see governor).
	gov governor
	// denied remembers the requests the gateway denied (see
	// deniedRequests).
	denied deniedRequests
	// resets coalesces the gateway's losses of state (see resetGate).
	resets resetGate
	// probes is the cached probe and the lock that lets one probe run at a
	// time (see probeCache).
	probes probeCache

	mu       sync.Mutex
	mappings map[*Mapping]struct{}
	ann      *announcer  // opened by listen, stopped with the last mapping
	sub      *subscriber // GENA; started by listen for a UPnP mapping, stopped with the last mapping
}

func newGateway(c *Client, addr, local netip.Addr, fromTable bool, methods []Method) *gateway {
	gw := &gateway{
		c:         c,
		addr:      addr,
		local:     local,
		fromTable: fromTable,
		log:       c.log().With("gateway", addr),
		sem:       make(chan struct{}, 1),
		probes:    probeCache{sem: make(chan struct{}, 1)},
		gov:       governor{clk: c.clock()},
		mappings:  make(map[*Mapping]struct{}),
	}
	var all []mapper
	if c.mappersFor != nil {
		all = c.mappersFor(gw)
	} else {
		all = newMappers(gw)
	}
	gw.all = all
	for _, m := range methods {
		for _, mp := range all {
			if mp.method() == m {
				gw.mappers = append(gw.mappers, mp)
			}
		}
	}
	return gw
}

// mapper returns the enabled mapper for m, or nil.
func (gw *gateway) mapper(m Method) mapper {
	for _, mp := range gw.mappers {
		if mp.method() == m {
			return mp
		}
	}
	return nil
}

// call runs fn, an exchange with the gateway, once the governor allows it,
// with the gateway's lock held and a deadline of at most RequestTimeout.
func (gw *gateway) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := gw.gov.wait(ctx); err != nil {
		return err
	}
	return gw.callExempt(ctx, fn)
}

// callExempt is call for the exchanges the governor exempts: the first Map
// of a mapping and its Close (see governor).
func (gw *gateway) callExempt(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, release, err := gw.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn(ctx)
}

// acquire takes the gateway's lock (see gateway.sem) for one exchange and
// returns its context, bounded by RequestTimeout, and the release.
func (gw *gateway) acquire(ctx context.Context) (context.Context, func(), error) {
	select {
	case gw.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("upnpmap: waiting for gateway %v: %w: %w", gw.addr, ErrTimeout, ctx.Err())
	}
	ctx, cancel := context.WithTimeout(ctx, gw.c.requestTimeout())
	return ctx, func() { cancel(); <-gw.sem }, nil
}

// multicast says whether SSDP may search by multicast: never for a loopback
// gateway; otherwise always — on the interfaces named, on every interface
// for a gateway from the routing table, on the one facing a gateway given
// by address (see upnpMapper.searchers).
func (gw *gateway) multicast() bool {
	if gw.upstream {
		return false // multicast stops at the inner router
	}
	if gw.c.ssdpGroup.IsValid() {
		return true // a test's stand-in group on loopback
	}
	return !gw.addr.IsLoopback()
}

// register adds a live mapping.
func (gw *gateway) register(m *Mapping) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.mappings[m] = struct{}{}
}

// listen opens the announcement listener unless it is open, for m's sake
// (a mapping's goroutine calls it once Map has returned, see settleDelay).
// A mapping no longer registered opens nothing: the listener lives only
// while some mapping does, and unregister of the last one stops it.
func (gw *gateway) listen(m *Mapping) {
	if gw.upstream {
		return // nothing it sends to its LAN's groups crosses the inner NAT
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if _, live := gw.mappings[m]; live && gw.ann == nil {
		gw.ann = gw.startAnnouncer()
	}
	if _, live := gw.mappings[m]; live && gw.sub == nil && m.mp.method() == UPnP {
		gw.sub = gw.startSubscriber()
	}
}

// unregister removes a mapping; the last one stops the listener (and waits
// for its goroutine).
func (gw *gateway) unregister(m *Mapping) {
	gw.mu.Lock()
	delete(gw.mappings, m)
	var ann *announcer
	var sub *subscriber
	if len(gw.mappings) == 0 {
		ann, gw.ann = gw.ann, nil
		sub, gw.sub = gw.sub, nil
	}
	gw.mu.Unlock()
	if ann != nil {
		ann.stop()
	}
	if sub != nil {
		sub.stop()
	}
}

// broadcast signals every live mapping except skip whose method passes
// match (nil: all).
func (gw *gateway) broadcast(skip *Mapping, sig uint32, match func(Method) bool) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	for m := range gw.mappings {
		if m != skip && (match == nil || match(m.mp.method())) {
			m.signal(sig)
		}
	}
}
