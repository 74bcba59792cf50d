package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// Errors wrap the sentinels: ErrNoGateway when nothing answered,
// ErrPortInUse, ErrNotAuthorized, ErrNoResources … from the methods tried
// (every method's error is wrapped; the message names each).
func (c *Client) Map(ctx context.Context, r Request) (*Mapping, error) {
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	q, err := r.normalize(gw.local)
	if err != nil {
		return nil, err
	}
	if _, err := gw.probed(ctx); err != nil {
		return nil, err
	}
	return gw.create(ctx, q, gw.order())
}

// order is the list of mappers to try: the enabled ones that answered the
// cached probe, in preference order, then those it cut short.
func (gw *gateway) order() []mapper {
	var answered, unsure []mapper
	for _, mp := range gw.mappers {
		switch a, u := gw.state(mp.method()); {
		case a:
			answered = append(answered, mp)
		case u:
			unsure = append(unsure, mp)
		}
	}
	return append(answered, unsure...)
}

// create tries the mappers in turn.
func (gw *gateway) create(ctx context.Context, q *mapReq, order []mapper) (*Mapping, error) {
	var failures []error
	var parts []string
	fail := func(m Method, err error) {
		gw.log.Debug("map failed", "method", m, "err", err)
		failures = append(failures, err)
		parts = append(parts, fmt.Sprintf("%s: %v", m, err))
	}
	tried := make(map[Method]bool)
	direct := make(map[Method]bool) // to try without asking the probe's cache
	for i := 0; i < len(order); i++ {
		mp := order[i]
		if tried[mp.method()] {
			continue
		}
		tried[mp.method()] = true
		if !direct[mp.method()] {
			if ok, err := gw.ready(ctx, mp); !ok {
				if err != nil { // asked again, and it did not answer
					fail(mp.method(), err)
				}
				continue
			}
		}
		var g *grant
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			g, err = mp.mapPort(ctx, q, nil)
			return err
		})
		if err == nil {
			g.start = gw.c.clock().Now()
			m := newMapping(gw, mp, q, g)
			m.log.Info("mapped", "external", g.external, "lifetime", g.lifetime)
			if g.reset {
				// The gateway lost its state since we last heard from it:
				// the other mappings are gone too.
				gw.noteReset(m, mp.method())
			}
			return m, nil
		}
		fail(mp.method(), err)
		if ctx.Err() != nil {
			break
		}
		// A PCP server that answers in NAT-PMP's version: NAT-PMP next,
		// whether or not it answered the probe.
		if errors.Is(err, errSpeaksNATPMP) && !tried[NATPMP] {
			if pmp := gw.mapper(NATPMP); pmp != nil {
				direct[NATPMP] = true
				order = append(order[:i+1], append([]mapper{pmp}, order[i+1:]...)...)
			}
		}
	}
	if len(failures) == 0 {
		return nil, fmt.Errorf("upnpmap: %w: no enabled method answered gateway %v", ErrNoGateway, gw.addr)
	}
	// Every method failed: what the probe learned may be stale.
	gw.forget()
	return nil, &mapError{q: q, msg: strings.Join(parts, "; "), errs: failures}
}

// mapError is the error of a Map that every method failed; it wraps each
// method's error.
type mapError struct {
	q    *mapReq
	msg  string
	errs []error
}

func (e *mapError) Error() string {
	return fmt.Sprintf("upnpmap: map %s %d: %s", e.q.proto, e.q.internal.Port(), e.msg)
}

func (e *mapError) Unwrap() []error { return e.errs }
