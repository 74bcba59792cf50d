package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Map opens a port on the gateway and keeps it open until the Mapping is
// closed. It uses the methods that answered the probe (made first unless a
// recent one is cached) in the Client's order, PCP, NAT-PMP, UPnP by default,
// and falls back to the next on failure; a PCP server that says it speaks
// NAT-PMP gets NAT-PMP at once. A method the probe cut short (an SSDP answer
// later than the grace, see Discover) comes last, and is asked again before
// it is used. The granted external port and lifetime are honoured (read
// Mapping.External; with Request.ExactPort another port is an error). ctx
// bounds the creation only; the mapping then lives until Close.
//
// Map's own probe (when none is cached) is Discover's made for one answer:
// the first method's probe leads straight to the mapping where it can (PCP:
// the MAP request itself; NAT-PMP: its external address request, then the
// MAP), the others follow after mapHeadStart or as soon as it fails,
// and the probe ends once the best method still possible has answered
// rather than after a grace. What Map leaves to the mapping's
// goroutine — opening the announcement listener, reading a new UPnP entry
// back — happens settleDelay after it returns, and not at all for a mapping
// detached or closed before then.
//
// Errors wrap the sentinels: ErrNoGateway when nothing answered,
// ErrPortInUse, ErrNotAuthorized, ErrNoResources … from the methods tried
// (every method's error is wrapped; the message names each).
func (c *Client) Map(ctx context.Context, r Request) (_ *Mapping, err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	if !r.routerOnly {
		switch {
		case c.sshDirect():
			return c.mapSSH(ctx, r) // method_ssh.go
		case c.sshFallback():
			return c.mapOrFallBack(ctx, r) // method_ssh.go
		}
		if r.Family == BothFamilies && (r.InternalAddr.IsValid() || !c.ipv6RouterKnown()) {
			// No pinhole to open beside the mapping (see mapFamilies):
			// this is Map for IPv4, here rather than through mapFamilies.
			r.Family = IPv4
		}
		if r.Family != IPv4 {
			return c.mapFamilies(ctx, r) // dualstack.go
		}
	}
	gw, err := r.onGateway, error(nil) // set for a chain's upstream leg
	if gw == nil {
		gw, err = c.gateway(ctx)
	}
	if err != nil {
		return nil, err
	}
	q, err := r.normalize(gw.local)
	if err != nil {
		return nil, err
	}
	if len(gw.mappers) == 0 {
		return nil, fmt.Errorf("upnpmap: %w: no method enabled", ErrInvalidArgs)
	}
	// Map's own probe, unless a fresh one is cached (also one that ran
	// while this call waited for the probe lock: concurrent Maps share one
	// probe). The first method's probe may make the mapping (see collect).
	var st createState
	_, probe, err := gw.probes.claim(ctx, gw.c.clock().Now)
	if err != nil {
		return nil, err
	}
	if probe {
		start := time.Now()
		out := gw.collect(ctx, gw.mappers, q)
		if m, err := gw.tookProbe(ctx, q, out, start, &st); m != nil || err != nil {
			return c.chained(ctx, &r, &st, m, err)
		}
	}
	m, err := gw.create(ctx, q, gw.order(&st), &st)
	return c.chained(ctx, &r, &st, m, err)
}

// mapRouter is Map for IPv4 through the router methods alone (no SSH
// fallback, no pinhole), for the SSH fallback and the dual-stack pair.
func (c *Client) mapRouter(ctx context.Context, r Request) (*Mapping, error) {
	r.Family, r.routerOnly = IPv4, true
	return c.Map(ctx, r)
}

// tookProbe ends Map's probe (see Map), whose lock the caller holds: it
// records the outcome as the cached result and releases the lock. A mapping
// made by the probe is returned; otherwise st records what the probe
// learned for create (a refused MAP, a PCP server that speaks NAT-PMP).
func (gw *gateway) tookProbe(ctx context.Context, q *mapReq, out *probeOutcome, start time.Time, st *createState) (*Mapping, error) {
	_, err := gw.record(ctx, out, start, false)
	gw.probes.unlock()
	if t := out.mapped; t != nil && t.g != nil {
		// Made by the probe; it stands even if record found fault (it
		// cannot: the method answered).
		return gw.adopt(t.mp, q, t.g), nil
	}
	if err != nil {
		return nil, err
	}
	if t := out.mapped; t != nil {
		st.fail(t.mp.method(), t.err)
	}
	if first := gw.mappers[0]; errors.Is(out.errs[first.method()], errSpeaksNATPMP) {
		st.speaksNATPMP = true
	}
	return nil, nil
}

// adopt makes a fresh grant a live Mapping.
func (gw *gateway) adopt(mp mapper, q *mapReq, g *grant) *Mapping {
	g.start = gw.c.clock().Now()
	m := newMapping(gw, mp, q, g)
	m.log.Info("mapped", "external", g.external, "lifetime", g.lifetime)
	if g.reset {
		// The gateway lost its state since we last heard from it: the
		// other mappings are gone too.
		gw.noteReset(m, mp.method())
	}
	return m
}

// order is the list of mappers to try: the enabled ones that answered the
// cached probe, in preference order, then those it cut short for being late;
// NAT-PMP first when the probe found a PCP server that speaks NAT-PMP (st).
// A method that Map's probe did not wait for because a preferred one had
// answered keeps its rank (it is asked again before it is used, see ready).
func (gw *gateway) order(st *createState) []mapper {
	var first, late []mapper
	if pmp := gw.mapper(NATPMP); st.speaksNATPMP && pmp != nil {
		mark(&st.direct, NATPMP)
		first = append(first, pmp)
	}
	for _, mp := range gw.mappers {
		switch a, why := gw.probes.standing(mp.method()); {
		case a, why == cutSettled:
			first = append(first, mp)
		case why != cutNone:
			late = append(late, mp)
		}
	}
	return append(first, late...)
}

// createState is what create knows before it starts and gathers as it goes.
// The zero value is ready: Map declares one, and the sets are made on first
// write (see mark).
type createState struct {
	failures []error
	parts    []string
	tried    map[Method]bool
	direct   map[Method]bool // to try without asking the probe's cache
	// speaksNATPMP: Map's probe found a PCP server that speaks NAT-PMP.
	speaksNATPMP bool
}

// mark adds m to set (st.tried or st.direct), making it on first use.
func mark(set *map[Method]bool, m Method) {
	if *set == nil {
		*set = make(map[Method]bool)
	}
	(*set)[m] = true
}

// fail records that m was tried and failed with err.
func (st *createState) fail(m Method, err error) {
	mark(&st.tried, m)
	st.failures = append(st.failures, err)
	st.parts = append(st.parts, byMethod(m, err).Error())
}

// byMethod names the method an error came from: "pcp: …". The method
// packages' errors mostly name themselves already ("pcp: MAP: …", "natpmp:
// external address: …"), and those are kept as they are, so that the
// message does not say "pcp: pcp: MAP". err stays wrapped.
func byMethod(m Method, err error) error {
	if strings.HasPrefix(err.Error(), string(m)+":") {
		return err
	}
	return fmt.Errorf("%s: %w", m, err)
}

// create tries the mappers in turn, skipping those st says were tried.
func (gw *gateway) create(ctx context.Context, q *mapReq, order []mapper, st *createState) (*Mapping, error) {
	fail := func(m Method, err error) {
		gw.log.Debug("map failed", "method", m, "err", errText(err))
		st.fail(m, err)
	}
	for i := 0; i < len(order); i++ {
		mp := order[i]
		if st.tried[mp.method()] {
			continue
		}
		mark(&st.tried, mp.method())
		if !st.direct[mp.method()] {
			if ok, err := gw.ready(ctx, mp); !ok {
				if err != nil { // asked again, and it did not answer
					fail(mp.method(), err)
				}
				continue
			}
		}
		g, err := gw.mapOnce(ctx, mp, q)
		if err == nil {
			return gw.adopt(mp, q, g), nil
		}
		fail(mp.method(), err)
		if ctx.Err() != nil {
			break
		}
		// A PCP server that answers in NAT-PMP's version: NAT-PMP next,
		// whether or not it answered the probe.
		if errors.Is(err, errSpeaksNATPMP) && !st.tried[NATPMP] {
			if pmp := gw.mapper(NATPMP); pmp != nil {
				mark(&st.direct, NATPMP)
				order = append(order[:i+1], append([]mapper{pmp}, order[i+1:]...)...)
			}
		}
	}
	if len(st.failures) == 0 {
		return nil, fmt.Errorf("upnpmap: %w: no enabled method answered gateway %v", ErrNoGateway, gw.addr)
	}
	// Every method failed: what the probe learned may be stale.
	gw.probes.forget()
	return nil, &mapError{q: q, msg: strings.Join(st.parts, "; "), errs: st.failures}
}

// mapError is the error of a Map that every method failed; its message names
// each method's error, and it wraps them — but the silences only when no
// method gave a definite answer (see definite).
type mapError struct {
	q    *mapReq
	msg  string
	errs []error
}

func (e *mapError) Error() string {
	return fmt.Sprintf("upnpmap: map %s %d: %s", e.q.proto, e.q.internal.Port(), e.msg)
}

func (e *mapError) Unwrap() []error { return definite(e.errs) }

// mapOnce sends a new mapping's request through mp (exempt from the
// governor: it is the mapping's first), unless the same NAT-PMP or PCP
// request was denied lately (see deniedRequests).
func (gw *gateway) mapOnce(ctx context.Context, mp mapper, q *mapReq) (*grant, error) {
	m := mp.method()
	if err := gw.denied.check(m, q, gw.c.clock().Now()); err != nil {
		return nil, err
	}
	var g *grant
	err := gw.callExempt(ctx, func(ctx context.Context) (err error) {
		g, err = mp.mapPort(ctx, q, nil)
		return err
	})
	alive, _ := gw.probes.standing(m)
	gw.denied.note(m, q, err, alive && ctx.Err() == nil, gw.c.clock().Now())
	return g, err
}
