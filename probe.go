package upnpmap

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// probeGrace is how long the other methods get once one has answered (or
// twice that answer's round trip, if longer). PCP and NAT-PMP answer within
// a round trip, but SSDP responders wait on purpose before they answer a
// search (UDA lets them take up to MX seconds; miniupnpd took 58–120 ms in
// our lab while its PCP answered in 2–15 ms), so 50 ms lost UPnP on real
// routers. 250 ms is Tailscale's probe budget too. A method that misses the
// grace is not written off: Map, List and ExternalAddr ask it again, alone,
// when they need it (see gateway.ready).
const probeGrace = 250 * time.Millisecond

// probed returns the methods that answered a recent probe, probing now if
// there is none. Concurrent callers share one probe.
func (gw *gateway) probed(ctx context.Context) ([]Method, error) {
	if ms, ok := gw.answered(); ok {
		return ms, nil
	}
	if err := gw.lockProbe(ctx); err != nil {
		return nil, err
	}
	defer gw.unlockProbe()
	// A probe that ran while we waited counts.
	if ms, ok := gw.answered(); ok {
		return ms, nil
	}
	r, err := gw.discoverLocked(ctx)
	if err != nil {
		return nil, err
	}
	return r.Methods, nil
}

func (gw *gateway) lockProbe(ctx context.Context) error {
	select {
	case gw.probeSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upnpmap: %w: %w", ErrTimeout, ctx.Err())
	}
}

func (gw *gateway) unlockProbe() { <-gw.probeSem }

// discover probes the gateway and caches the result.
func (gw *gateway) discover(ctx context.Context) (*DiscoverResult, error) {
	if err := gw.lockProbe(ctx); err != nil {
		return nil, err
	}
	defer gw.unlockProbe()
	return gw.discoverLocked(ctx)
}

func (gw *gateway) discoverLocked(ctx context.Context) (*DiscoverResult, error) {
	start := time.Now()
	if len(gw.mappers) == 0 {
		return nil, fmt.Errorf("upnpmap: %w: no method enabled", ErrInvalidArgs)
	}
	out := gw.collect(ctx, gw.mappers, nil)
	return gw.record(ctx, out, start, true)
}

// record makes a probe's outcome the cached result. fill asks UPnP for the
// external address when only it can tell (Discover reports it; Map's probe
// skips it, as the UPnP mapping asks anyway).
func (gw *gateway) record(ctx context.Context, out *probeOutcome, start time.Time, fill bool) (*DiscoverResult, error) {
	r := &DiscoverResult{Gateway: gw.addr, Local: gw.local}
	unsure := make(map[Method]cutReason)
	for _, mp := range gw.mappers {
		m := mp.method()
		info := out.infos[m]
		if info == nil {
			if out.unsure(m) {
				unsure[m] = out.cut[m]
			}
			continue
		}
		r.Methods = append(r.Methods, m)
		r.learn(info)
		if info.reset {
			gw.noteReset(nil, m)
		}
	}
	if len(r.Methods) == 0 {
		gw.forget()
		return nil, gw.noAnswer(out.errs, ctx.Err())
	}
	if fill {
		gw.fillExternal(ctx, r)
	}
	r.Elapsed = time.Since(start)
	gw.log.Debug("probe done", "methods", r.Methods, "unsure", cutKeys(unsure), "external", r.ExternalAddr, "elapsed", r.Elapsed)

	gw.mu.Lock()
	gw.result, gw.probedAt, gw.unsure = r, gw.c.clock().Now(), unsure
	gw.mu.Unlock()
	return r.clone(), nil
}

// learn takes what one method's probe told into the result.
func (r *DiscoverResult) learn(info *probeInfo) {
	if !r.ExternalAddr.IsValid() && info.external.IsValid() {
		r.ExternalAddr = info.external
	}
	if info.device != "" || info.location != "" {
		r.Device, r.Location = info.device, info.location
	}
}

// fillExternal asks UPnP for the external address when only it can tell
// (PCP's ANNOUNCE does not carry one): one more round trip, under the
// gateway's lock.
func (gw *gateway) fillExternal(ctx context.Context, r *DiscoverResult) {
	if up := gw.mapper(UPnP); !r.ExternalAddr.IsValid() && r.Has(UPnP) && up != nil {
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			r.ExternalAddr, err = up.externalAddr(ctx)
			return err
		})
		if err != nil {
			gw.log.Debug("UPnP external address", "err", err)
		}
	}
	r.ExternalPrivate = r.ExternalAddr.IsValid() && notPublic(r.ExternalAddr)
}

func (r *DiscoverResult) clone() *DiscoverResult {
	cp := *r
	cp.Methods = append([]Method(nil), r.Methods...)
	return &cp
}

// ready says whether mp may be used: it answered the cached probe, or it was
// cut short then and answers now, asked alone (reprobe). A method that failed
// the probe, or stayed silent for a whole probe of its own, is not asked
// again until the cache expires or every method failed a Map.
func (gw *gateway) ready(ctx context.Context, mp mapper) (bool, error) {
	answered, unsure := gw.state(mp.method())
	switch {
	case answered:
		return true, nil
	case !unsure:
		return false, nil
	}
	err := gw.reprobe(ctx, mp)
	return err == nil, err
}

// state reports what the cached probe says about m.
func (gw *gateway) state(m Method) (answered, unsure bool) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.result == nil {
		return false, false
	}
	return gw.result.Has(m), gw.unsure[m] != cutNone
}

// reprobe asks one method again that the cached probe cut short, with the
// whole probe budget, and records the outcome in the cache.
func (gw *gateway) reprobe(ctx context.Context, mp mapper) error {
	m := mp.method()
	if err := gw.lockProbe(ctx); err != nil {
		return err
	}
	defer gw.unlockProbe()
	if answered, unsure := gw.state(m); answered || !unsure {
		// Another caller asked it meanwhile (or the cache was dropped).
		if answered {
			return nil
		}
		return fmt.Errorf("%w: %s did not answer the probe", ErrTimeout, m)
	}
	gw.log.Debug("asking again a method the probe cut short", "method", m)
	out := gw.collect(ctx, []mapper{mp}, nil)
	info := out.infos[m]

	gw.mu.Lock()
	if gw.result != nil {
		switch {
		case info != nil:
			r := gw.result.clone()
			r.Methods = r.Methods[:0]
			for _, x := range gw.mappers {
				if x.method() == m || gw.result.Has(x.method()) {
					r.Methods = append(r.Methods, x.method())
				}
			}
			r.learn(info)
			gw.result = r
			delete(gw.unsure, m)
		case !out.unsure(m):
			// Failed, or silent for a whole probe of its own.
			delete(gw.unsure, m)
		}
	}
	gw.mu.Unlock()

	if info == nil {
		return out.errs[m]
	}
	if info.reset {
		gw.noteReset(nil, m)
	}
	return nil
}

// noAnswer builds the error of a probe nothing answered, naming each method's
// failure.
func (gw *gateway) noAnswer(errs map[Method]error, ctxErr error) error {
	var parts []string
	var all []error
	if ctxErr != nil {
		parts = append(parts, ctxErr.Error())
		all = append(all, ErrTimeout, ctxErr)
	}
	for _, mp := range gw.mappers {
		if err := errs[mp.method()]; err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", mp.method(), err))
			all = append(all, err)
		}
	}
	return &probeError{gw: gw.addr, msg: strings.Join(parts, "; "), errs: all}
}

// probeError is the error of a probe that no method answered. It wraps
// ErrNoGateway and the methods' own errors (often ErrTimeout).
type probeError struct {
	gw   netip.Addr
	msg  string
	errs []error
}

func (e *probeError) Error() string {
	return fmt.Sprintf("upnpmap: no answer from gateway %v (%s)", e.gw, e.msg)
}

func (e *probeError) Unwrap() []error { return append([]error{ErrNoGateway}, e.errs...) }
