package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/pcp"
	"github.com/upnpmap/upnpmap/reach"
)

// Double NAT. A gateway whose WAN address is private (or CGNAT) sits behind
// another router, so a mapping on it alone is reachable only from the
// network between the two. Map then chains the mapping: the gateway maps
// E1 to this machine (the inner leg, as without double NAT), and the
// upstream router maps E2 to the gateway's WAN address:E1 (the upstream
// leg). The request to the upstream router crosses the gateway's NAT, so it
// arrives from the gateway's WAN address, and each method names that
// address as the mapping's target:
//
//   - NAT-PMP maps to the sender, which is that address already;
//   - PCP carries it as the client address (the header's client field must
//     be the source the server sees, or it answers ADDRESS_MISMATCH; the
//     THIRD_PARTY option is neither needed nor commonly allowed);
//   - UPnP sends it as NewInternalClient, which also passes secure mode:
//     it is the caller's address as the upstream router sees it.
//
// The upstream leg is a Mapping of its own on the upstream gateway, renewed
// and recovered by its own goroutine; the chain's goroutine passes its
// events on (Event.Leg 1), re-makes it when the inner leg's external address
// or port changes, and retries it with a backoff while the upstream router
// does not map.
//
// Map waits for the upstream leg: at most the upstream router's probe
// (ProbeTimeout) and its MAP (RequestTimeout) when it is silent.
//
// When the upstream router does not map (silent, refusing, none found),
// Map still returns the inner mapping and a nil error: the mapping works
// within the middle network, and Map's callers that check err alone would
// otherwise leak it. Mapping.UpstreamErr then returns an *UpstreamError
// (matching ErrUpstreamUnmapped) that names the forward to configure by
// hand, and a Failed event with Leg 1 carries the same error.

// Timing of the upstream leg's retries while the upstream router does not
// map: from chainRetryStart, doubling, at most chainRetryMax.
const (
	chainRetryStart = 30 * time.Second
	chainRetryMax   = 15 * time.Minute
)

// ErrUpstreamUnmapped: double NAT, and the upstream router did not map the
// port (or none was found); see UpstreamError.
var ErrUpstreamUnmapped = errors.New("double NAT: the upstream router did not map the port")

// errNoUpstream: no upstream router is known (Client.Upstream is zero and
// none was found).
var errNoUpstream = errors.New("no upstream router known")

// Leg is one router's part of a mapping (see Mapping.Legs).
type Leg struct {
	// Router is the router that holds this leg.
	Router netip.Addr
	// Method is the method that made it.
	Method Method
	// External is the leg's address on the router's WAN side.
	External netip.AddrPort
	// Internal is where the router forwards to: this machine (or the
	// Request's InternalAddr) for the inner leg, the inner router's WAN
	// address and port for the upstream leg.
	Internal netip.AddrPort
	// Lifetime is the lease the router granted last; 0 for a permanent one.
	Lifetime time.Duration
	// Expires is when the lease ends unless renewed; zero when permanent.
	Expires time.Time
	// Delete names the leg for Client.Delete on a Client whose Gateway is
	// Router (e.g. from another process, after Detach).
	Delete DeleteRequest
}

// Legs lists the routers that hold the mapping, the gateway's (inner) leg
// first, then the upstream router's when the mapping is chained through a
// double NAT and that leg stands. A mapping that is not chained has one leg.
func (m *Mapping) Legs() []Leg {
	legs := []Leg{m.leg()}
	if ch := m.chain.Load(); ch != nil {
		if o := ch.outerMapping(); o != nil {
			legs = append(legs, o.leg())
		}
	}
	return legs
}

func (m *Mapping) leg() Leg {
	g := m.grant()
	return Leg{Router: m.Gateway(), Method: m.Method(), External: g.external, Internal: g.internal,
		Lifetime: g.lifetime, Expires: g.expires(), Delete: m.DeleteRequest()}
}

// UpstreamErr reports why a mapping behind a double NAT has no upstream
// leg: an *UpstreamError (errors.Is ErrUpstreamUnmapped) naming the forward
// to configure by hand. It is nil when the mapping is not behind a double
// NAT, when the upstream leg stands, and when chaining is off.
func (m *Mapping) UpstreamErr() error {
	if ch := m.chain.Load(); ch != nil {
		return ch.failure()
	}
	return nil
}

// UpstreamError is why the upstream leg of a double NAT is missing, with
// the forward that would make up for it.
type UpstreamError struct {
	// Upstream is the upstream router; zero when none was found.
	Upstream netip.Addr
	// Protocol and Port are the forward to create on the upstream router:
	// Port is the external port wished for.
	Protocol Protocol
	Port     uint16
	// Target is where it must forward to: the gateway's WAN address and
	// the inner leg's external port (E1). Its address is zero if the
	// gateway did not tell its external address.
	Target netip.AddrPort
	// CGNAT: the gateway's WAN address is in the shared address space
	// (100.64.0.0/10): the upstream router is the ISP's, which maps
	// nothing for its customers; only a relay on a public host, an SSH
	// remote forward (Client.SSH, `--via`) or IPv6 can help.
	CGNAT bool
	// Err is the upstream router's failure (or why none is known).
	Err error
}

func (e *UpstreamError) Error() string {
	var b strings.Builder
	switch {
	case e.CGNAT:
		fmt.Fprintf(&b, "carrier-grade NAT (double NAT with the ISP's router): the router's WAN address %v is in the ISP's shared address space (100.64.0.0/10)", e.Target.Addr())
		if e.Upstream.IsValid() {
			fmt.Fprintf(&b, " and the ISP's router %v did not map the port", e.Upstream)
		}
		fmt.Fprintf(&b, " (%v); only a relay on a public host, an SSH remote forward (--via) or IPv6 can make it reachable", e.Err)
		return b.String()
	case !e.Upstream.IsValid():
		fmt.Fprintf(&b, "double NAT: the router (WAN address %v) sits behind another NAT and %v (%v): set the upstream router (--upstream IP)", e.Target.Addr(), errNoUpstream, e.Err)
		fmt.Fprintf(&b, ", or forward %s %d -> %v on it by hand", e.Protocol, e.Port, e.Target)
		return b.String()
	}
	fmt.Fprintf(&b, "double NAT: upstream router %v did not map the port (%v): forward %s %d -> %v on %v by hand",
		e.Upstream, e.Err, e.Protocol, e.Port, e.Target, e.Upstream)
	return b.String()
}

// Unwrap gives ErrUpstreamUnmapped and the upstream router's error.
func (e *UpstreamError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUpstreamUnmapped}
	}
	return []error{ErrUpstreamUnmapped, e.Err}
}

// chained finishes Map: it returns m as it is unless m should be chained
// through an upstream router (see chain): Client.Upstream is set, the
// gateway's external address is not public, or a PCP attempt on the way
// met ADDRESS_MISMATCH (st: a NAT between this host and the PCP server,
// whatever address the gateway reports). The test is cheap, so that the
// single-router case costs nothing: no probe and no packet when the
// gateway's external address is public and Client.Upstream is unset.
func (c *Client) chained(ctx context.Context, r *Request, st *createState, m *Mapping, err error) (*Mapping, error) {
	if err != nil || m == nil || r.onGateway != nil || c.NoChain {
		return m, err
	}
	if c.Upstream.IsValid() || notPublic(m.grant().external.Addr()) {
		return c.chain(ctx, m, c.Upstream.IsValid()), nil
	}
	if st.addressMismatch() {
		m.log.Info("PCP ADDRESS_MISMATCH: another NAT on the way; chaining")
		return c.chain(ctx, m, true), nil
	}
	return m, nil
}

// addressMismatch says whether a method failed with PCP's ADDRESS_MISMATCH.
func (st *createState) addressMismatch() bool {
	for _, err := range st.failures {
		if errors.Is(err, pcp.ErrAddressMismatch) {
			return true
		}
	}
	return false
}

// chain is the upstream leg of a mapping behind a double NAT and the
// goroutine that keeps it in step with the inner leg (see the comment at
// the top of this file).
type chain struct {
	c  *Client
	m  *Mapping   // the inner leg
	up netip.Addr // the upstream router; zero when none is known
	// forced: Client.Upstream was set, PCP's ADDRESS_MISMATCH told of
	// another NAT, or Adopt found an upstream leg recorded, so the chain
	// stands even when the gateway's external address looks public.
	forced bool
	ugw    *gateway // nil when no upstream router is known

	// fmu serializes follow and heal: the chain's goroutine and Verify
	// (heal) both re-make the upstream leg, and two at once would leave
	// two legs on the upstream router.
	fmu sync.Mutex

	mu     sync.Mutex
	outer  *Mapping // the upstream leg; nil while missing; guarded by mu
	err    error    // *UpstreamError while missing; guarded by mu
	closed bool     // guarded by mu

	kick     chan struct{} // capacity 1: the inner leg's address may have changed
	cancel   context.CancelFunc
	done     chan struct{} // closed when run returned; nil without a goroutine
	stopOnce sync.Once
}

// chain makes m's upstream leg and starts the chain's goroutine (forced:
// see chain.forced). m is returned in every case; what went wrong is
// m.UpstreamErr.
func (c *Client) chain(ctx context.Context, m *Mapping, forced bool) *Mapping {
	ch := &chain{c: c, m: m, forced: forced, kick: make(chan struct{}, 1)}
	up, err := c.Upstream.Unmap(), error(nil)
	if !up.IsValid() {
		up, err = c.findUpstream(ctx, m.gw)
	}
	var ugw *gateway
	if up.IsValid() {
		ugw, err = c.upstreamGateway(up)
	}
	if ugw == nil {
		// Nothing to retry with: record the advice, start nothing.
		ch.err = ch.unmapped(m.grant().external, fmt.Errorf("%w: %w", errNoUpstream, err))
		m.chain.Store(ch)
		m.log.Warn("double NAT, no upstream router", "err", errText(ch.err))
		return m
	}
	ch.up, ch.ugw = up, ugw
	ch.start(ctx)
	return m
}

// start publishes the chain on its mapping, makes the upstream leg unless
// one that forwards to the inner leg stands already (adopted), and starts
// the chain's goroutine.
func (ch *chain) start(ctx context.Context) {
	m := ch.m
	m.chain.Store(ch)
	ch.follow(ctx)
	if err := ch.failure(); err != nil {
		m.emitOutside(Event{Kind: Failed, External: m.grant().external, Err: err, Time: m.clk.Now(), Leg: 1})
	}
	rctx, cancel := context.WithCancel(context.Background())
	ch.cancel, ch.done = cancel, make(chan struct{})
	go ch.run(rctx)
}

// adoptChain finishes Adopt: it adopts the upstream leg up recorded (see
// Record.Upstream) on its router, and keeps it as the chain's upstream
// leg, so that a restarted process asks the upstream router for nothing
// new while the recorded leg stands. A stale or unreachable leg is made
// afresh by the chain (follow), on the same router. A mapping recorded
// without an upstream leg is chained as Map chains one (chained).
func (c *Client) adoptChain(ctx context.Context, m *Mapping, up *Record) *Mapping {
	if c.NoChain || m.gw == nil {
		return m
	}
	if up == nil || !up.Gateway.IsValid() {
		m, _ = c.chained(ctx, &Request{}, &createState{}, m, nil)
		return m
	}
	ch := &chain{c: c, m: m, forced: true, up: up.Gateway.Unmap(), kick: make(chan struct{}, 1)}
	ugw, err := c.upstreamGateway(ch.up)
	if err != nil {
		ch.err = ch.unmapped(m.grant().external, err)
		m.chain.Store(ch)
		m.log.Warn("double NAT: the recorded upstream router is unusable", "upstream", ch.up, "err", errText(err))
		return m
	}
	ch.ugw = ugw
	if err := checkRecord(*up); err != nil {
		m.log.Warn("double NAT: the recorded upstream leg is unusable", "err", errText(err))
	} else if !up.Expires.IsZero() && !c.clock().Now().Before(up.Expires) {
		m.log.Info("double NAT: the recorded upstream leg's lease ended; mapping it afresh")
	} else if o, err := c.adoptOn(ctx, ugw, *up, m.grant().external.Addr()); err != nil {
		m.log.Info("double NAT: the recorded upstream leg is gone; mapping it afresh", "err", errText(err))
	} else {
		ch.outer = o // follow keeps it if it forwards to the inner leg
	}
	ch.start(ctx)
	return m
}

// unmapped is the UpstreamError for an upstream leg to inner that could
// not be made because of err.
func (ch *chain) unmapped(inner netip.AddrPort, err error) *UpstreamError {
	q := ch.m.q
	return &UpstreamError{
		Upstream: ch.up,
		Protocol: q.proto,
		Port:     q.wish,
		Target:   inner,
		CGNAT:    cgnat.Contains(inner.Addr().Unmap()),
		Err:      err,
	}
}

func (ch *chain) outerMapping() *Mapping {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.outer
}

func (ch *chain) failure() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.err == nil {
		return nil
	}
	return ch.err
}

// innerEvent is told of each event of the inner leg (by emit): a new
// external address or a restoration may move the upstream leg's target.
// It never blocks.
func (ch *chain) innerEvent(k EventKind) {
	if k != ExternalAddressChanged && k != Restored {
		return
	}
	select {
	case ch.kick <- struct{}{}:
	default:
	}
}

// follow makes the upstream leg match the inner one: it keeps a leg that
// forwards to the inner leg's external address and port, and otherwise
// deletes it and makes a new one (or none, when the gateway's address
// turned public and Client.Upstream is unset). It reports whether the
// upstream leg changed.
func (ch *chain) follow(ctx context.Context) bool {
	ch.fmu.Lock()
	defer ch.fmu.Unlock()
	return ch.followLocked(ctx)
}

// followLocked is follow with fmu held.
func (ch *chain) followLocked(ctx context.Context) bool {
	if ch.isClosed() {
		return false
	}
	inner := ch.m.grant().external
	old := ch.outerMapping()
	if old != nil && old.Internal() == inner {
		return false
	}
	if old != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ch.c.closeTimeout())
		if err := old.CloseContext(cctx); err != nil {
			ch.m.log.Debug("deleting the old upstream leg", "err", errText(err))
		}
		cancel()
	}
	if !ch.forced && inner.Addr().IsValid() && !notPublic(inner.Addr()) {
		ch.set(nil, nil) // the gateway's address is public now: no chain needed
		return old != nil
	}
	if !inner.Addr().IsValid() {
		ch.set(nil, ch.unmapped(inner, errors.New("the gateway did not tell its external address")))
		return old != nil
	}
	q := ch.m.q
	om, err := ch.c.Map(ctx, Request{
		Protocol:     q.proto,
		InternalPort: inner.Port(),
		InternalAddr: inner.Addr(),
		ExternalPort: q.wish,
		ExactPort:    q.exact,
		Description:  q.description,
		Lifetime:     q.lifetime,
		Family:       IPv4,
		routerOnly:   true,
		onGateway:    ch.ugw,
		via:          inner.Addr(),
	})
	if err != nil {
		ch.m.log.Warn("double NAT: the upstream router did not map", "upstream", ch.up, "err", errText(err))
		ch.set(nil, ch.unmapped(inner, err))
		return true
	}
	ch.m.log.Info("double NAT: chained", "upstream", ch.up, "external", om.External(), "target", inner)
	if !ch.set(om, nil) {
		_ = om.Close() // closed meanwhile
	}
	return true
}

func (ch *chain) isClosed() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.closed
}

// heal is Verify's re-creation of the upstream leg, after the inner leg's
// (Mapping.heal): a leg that still forwards to the inner leg's external
// address and port is deleted and re-created in place (the upstream router
// may be the one whose forward went stale); one that forwards elsewhere
// (the inner leg was re-made on another port) or is missing is re-made by
// follow. It reports whether the upstream leg's external address changed
// (Verify then reports it on leg 1).
func (ch *chain) heal(ctx context.Context) (moved bool, err error) {
	ch.fmu.Lock()
	defer ch.fmu.Unlock()
	o := ch.outerMapping()
	if o == nil && ch.ugw == nil {
		return false, ch.failure() // no upstream router to ask
	}
	before := ch.m.External()
	if o == nil || o.Internal() != ch.m.grant().external {
		ch.followLocked(ctx)
		if err := ch.failure(); err != nil {
			return false, err
		}
		return ch.m.External() != before, nil
	}
	if live, err := o.healLive(ctx); !live || err != nil {
		return false, err
	}
	return ch.m.External() != before, nil
}

// set records the upstream leg (or its absence and why); false when the
// chain was closed meanwhile (then o is not kept).
func (ch *chain) set(o *Mapping, err *UpstreamError) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return false
	}
	ch.outer = o
	ch.err = nil
	if err != nil {
		ch.err = err
	}
	return true
}

// run is the chain's goroutine: it passes the upstream leg's events on as
// the mapping's (Leg 1), re-makes the leg when the inner one moved, and
// retries it while it is missing, until close or detach cancels ctx.
func (ch *chain) run(ctx context.Context) {
	defer close(ch.done)
	first := chainRetryStart
	if ch.c.chainRetryAfter > 0 {
		first = ch.c.chainRetryAfter
	}
	backoff := first
	retry := time.NewTimer(never)
	defer retry.Stop()
	armed := false
	for {
		o := ch.outerMapping()
		var evs <-chan Event
		if o != nil {
			evs = o.Events()
		}
		if o == nil && ch.failure() != nil && !armed { // missing, not merely unneeded
			retry.Reset(backoff)
			armed = true
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-evs:
			if ok {
				ev.Leg = 1
				ch.m.emitOutside(ev)
			} else if ch.outerMapping() == o {
				ch.set(nil, ch.unmapped(ch.m.grant().external, errors.New("the upstream leg was closed")))
			}
			continue
		case <-ch.kick:
		case <-retry.C:
			armed = false
			backoff = min(2*backoff, chainRetryMax)
		}
		if ch.step(ctx) && ch.outerMapping() != nil {
			backoff = first
		}
		if ch.outerMapping() != nil && armed {
			retry.Stop()
			armed = false
		}
	}
}

// step is one attempt of follow with its events: Restored when the
// upstream leg was made again, Failed when it could not be. It reports
// whether the leg changed.
func (ch *chain) step(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, ch.c.probeTimeout()+3*ch.c.requestTimeout())
	defer cancel()
	before := ch.m.External()
	changed := ch.follow(sctx)
	if ctx.Err() != nil || !changed {
		return changed
	}
	now := ch.m.clk.Now()
	if err := ch.failure(); err != nil {
		ch.m.emitOutside(Event{Kind: Failed, External: ch.m.grant().external, Err: err, Time: now, Leg: 1})
		return changed
	}
	if o := ch.outerMapping(); o != nil {
		ch.m.emitOutside(Event{Kind: Restored, External: o.External(), Expires: o.Expires(), Time: now, Leg: 1})
		if after := o.External(); after != before {
			ch.m.emitOutside(Event{Kind: ExternalAddressChanged, External: after, Expires: o.Expires(), Time: now, Leg: 1})
		}
	}
	return changed
}

// stop ends the goroutine (if any) and marks the chain closed; it returns
// the upstream leg to close or detach, nil after the first call. The leg
// stays readable (Legs, External), as a detached Mapping's accessors do.
func (ch *chain) stop() *Mapping {
	var o *Mapping
	ch.stopOnce.Do(func() {
		if ch.cancel != nil {
			ch.cancel()
			<-ch.done
		}
		ch.mu.Lock()
		o, ch.closed = ch.outer, true
		ch.mu.Unlock()
	})
	return o
}

// close deletes the upstream leg (part of Mapping.Close).
func (ch *chain) close(ctx context.Context) error {
	o := ch.stop()
	if o == nil {
		return nil
	}
	if err := o.CloseContext(ctx); err != nil {
		return fmt.Errorf("upstream leg on %v: %w", ch.up, err)
	}
	return nil
}

// detach leaves the upstream leg on its router (part of Mapping.Detach).
func (ch *chain) detach() {
	if o := ch.stop(); o != nil {
		o.Detach()
	}
}

// findUpstream finds the upstream router of gw when Client.Upstream is
// unset: by the TTL-limited probe of upstream_linux.go, never for a
// loopback gateway (tests, the demo), and on other systems not at all.
func (c *Client) findUpstream(ctx context.Context, gw *gateway) (netip.Addr, error) {
	if c.findUpstreamFn != nil {
		return c.findUpstreamFn(ctx, gw)
	}
	if gw.addr.IsLoopback() {
		return netip.Addr{}, errors.New("a loopback gateway is not probed")
	}
	return probeUpstream(ctx, gw.addr, gw.local)
}

// upstreamGateway returns the state of the upstream router at addr,
// creating it on first use, with Client.UpstreamMethods.
func (c *Client) upstreamGateway(addr netip.Addr) (*gateway, error) {
	methods, err := upstreamMethods(c.UpstreamMethods)
	if err != nil {
		return nil, err
	}
	addr = addr.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gw := c.ups[addr]; gw != nil {
		return gw, nil
	}
	local, err := discovery.LocalAddrFor(addr)
	if err != nil {
		return nil, fmt.Errorf("upnpmap: %w: no route to upstream router %v: %w", ErrNoGateway, addr, err)
	}
	gw := newGateway(c, addr, local.Unmap(), false, methods)
	gw.upstream = true
	gw.log = gw.log.With("leg", "upstream")
	if c.ups == nil {
		c.ups = make(map[netip.Addr]*gateway)
	}
	c.ups[addr] = gw
	return gw, nil
}

// upstreamMethods checks Client.UpstreamMethods: router methods only.
func upstreamMethods(list []Method) ([]Method, error) {
	if len(list) == 0 {
		return defaultMethods, nil
	}
	var out []Method
	for _, m := range list {
		switch m {
		case PCP, NATPMP, UPnP:
			out = append(out, m)
		default:
			return nil, fmt.Errorf("upnpmap: %w: method %q cannot map on an upstream router", ErrInvalidArgs, m)
		}
	}
	return out, nil
}

// chainLate chains a mapping that Map did not chain, when Verify's checker
// saw this machine at another public address than the gateway's external
// one (v.NAT is UPSTREAM_NAT): the gateway's address looks public, but
// another NAT sits in front of it. The checker's answer costs nothing more
// than the check Verify made anyway (asking it at every Map would spend its
// per-source request budget). An observed address that is not public (a
// checker on the LAN) tells nothing. It reports whether the upstream leg
// now stands; when it does not, UpstreamErr says why.
func (m *Mapping) chainLate(ctx context.Context, v Verification) bool {
	seen := v.Outcome.Observed.Addr().Unmap()
	if m.c.NoChain || m.gw == nil || m.gw.upstream || m.chain.Load() != nil ||
		!m.grant().external.Addr().Is4() || !seen.Is4() || reach.NotGlobal(seen) {
		return false
	}
	m.emitMu.Lock()
	closed := m.eventsClosed
	m.emitMu.Unlock()
	if closed {
		return false
	}
	m.log.Info("the checker sees another address than the gateway's: another NAT upstream; chaining", "observed", seen)
	m.c.chain(ctx, m, true)
	ch := m.chain.Load()
	m.emitMu.Lock()
	closed = m.eventsClosed
	m.emitMu.Unlock()
	if closed {
		// Closed or detached meanwhile, after its own look at m.chain:
		// the upstream leg is this call's to remove.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c.closeTimeout())
		_ = ch.close(cctx)
		cancel()
		return false
	}
	return ch.outerMapping() != nil
}
