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
// NAT-PMP gets NAT-PMP at once. The granted external port and lifetime are
// honoured (read Mapping.External; with Request.ExactPort another port is an
// error). ctx bounds the creation only; the mapping then lives until Close.
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
	answered, err := gw.probed(ctx)
	if err != nil {
		return nil, err
	}
	return gw.create(ctx, q, gw.order(answered))
}

// order is the list of mappers to try: the enabled ones that answered, in
// preference order.
func (gw *gateway) order(answered []Method) []mapper {
	var out []mapper
	for _, mp := range gw.mappers {
		for _, m := range answered {
			if mp.method() == m {
				out = append(out, mp)
			}
		}
	}
	return out
}

// create tries the mappers in turn.
func (gw *gateway) create(ctx context.Context, q *mapReq, order []mapper) (*Mapping, error) {
	var failures []error
	var parts []string
	tried := make(map[Method]bool)
	for i := 0; i < len(order); i++ {
		mp := order[i]
		if tried[mp.method()] {
			continue
		}
		tried[mp.method()] = true
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
				// the other mappings of this method are gone too.
				gw.noteReset(m, mp.method())
			}
			return m, nil
		}
		gw.log.Debug("map failed", "method", mp.method(), "err", err)
		failures = append(failures, err)
		parts = append(parts, fmt.Sprintf("%s: %v", mp.method(), err))
		if ctx.Err() != nil {
			break
		}
		// A PCP server that answers in NAT-PMP's version: NAT-PMP next,
		// whether or not it answered the probe.
		if errors.Is(err, errSpeaksNATPMP) && !tried[NATPMP] {
			if pmp := gw.mapper(NATPMP); pmp != nil {
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
