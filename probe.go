package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
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

// probeCache is the one home of what the last probe of a gateway found:
// every read and write of the cached result goes through its methods. It
// also holds the lock that lets one probe run at a time, so that concurrent
// callers share one probe and use its result.
type probeCache struct {
	sem chan struct{} // one probe at a time; a channel so waiting honours contexts

	mu     sync.Mutex
	result *DiscoverResult      // last probe; nil before the first, or forgotten
	at     time.Time            // when it was recorded (the Client's clock)
	cut    map[Method]cutReason // methods the last probe cut short, and why (see ready)
}

// lock takes the probe lock, waiting at most until ctx ends.
func (pc *probeCache) lock(ctx context.Context) error {
	select {
	case pc.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upnpmap: %w: %w", ErrTimeout, ctx.Err())
	}
}

func (pc *probeCache) unlock() { <-pc.sem }

// claim takes the probe lock for a caller that needs a probe, unless the
// cached one is fresh (also after waiting for the lock: a probe that ran
// meanwhile counts). probe reports whether the caller holds the lock and
// must probe (and unlock); otherwise ms are the methods of the fresh probe.
func (pc *probeCache) claim(ctx context.Context, now func() time.Time) (ms []Method, probe bool, err error) {
	if ms, ok := pc.fresh(now()); ok {
		return ms, false, nil
	}
	if err := pc.lock(ctx); err != nil {
		return nil, false, err
	}
	if ms, ok := pc.fresh(now()); ok {
		pc.unlock()
		return ms, false, nil
	}
	return nil, true, nil
}

// fresh returns the methods that answered the cached probe if it is younger
// than probeTTL at now.
func (pc *probeCache) fresh(now time.Time) ([]Method, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.result == nil || now.Sub(pc.at) > probeTTL {
		return nil, false
	}
	return pc.result.Methods, true
}

// standing reports what the cached probe says about m: answered, or why it
// was cut short (cutNone: neither, it failed or was never probed).
func (pc *probeCache) standing(m Method) (answered bool, cut cutReason) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.result == nil {
		return false, cutNone
	}
	return pc.result.Has(m), pc.cut[m]
}

// store makes r, probed at at, the cached result.
func (pc *probeCache) store(r *DiscoverResult, at time.Time, cut map[Method]cutReason) {
	pc.mu.Lock()
	pc.result, pc.at, pc.cut = r, at, cut
	pc.mu.Unlock()
}

// forget drops the cached probe, e.g. after every method failed.
func (pc *probeCache) forget() {
	pc.mu.Lock()
	pc.result, pc.cut = nil, nil
	pc.mu.Unlock()
}

// settle records the outcome of asking m again alone (reprobe): answered
// (info set) adds it to the methods in order's ranks; failed, or silent for
// a whole probe of its own (!unsure), ends its cut-short standing; a probe
// cut short again changes nothing.
func (pc *probeCache) settle(m Method, info *probeInfo, unsure bool, order []mapper) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case pc.result == nil:
	case info != nil:
		r := pc.result.clone()
		r.Methods = r.Methods[:0]
		for _, x := range order {
			if x.method() == m || pc.result.Has(x.method()) {
				r.Methods = append(r.Methods, x.method())
			}
		}
		r.learn(info)
		pc.result = r
		delete(pc.cut, m)
	case !unsure:
		delete(pc.cut, m)
	}
}

// probed returns the methods that answered a recent probe, probing now if
// there is none. Concurrent callers share one probe.
func (gw *gateway) probed(ctx context.Context) ([]Method, error) {
	ms, _, err := gw.probedNow(ctx)
	return ms, err
}

// probedNow is probed that also returns the probe's result when this call
// made it (nil when a recent probe served): what it learned, such as the
// external address, is then as fresh as a request of the caller's own.
func (gw *gateway) probedNow(ctx context.Context) ([]Method, *DiscoverResult, error) {
	ms, probe, err := gw.probes.claim(ctx, gw.c.clock().Now)
	if !probe {
		return ms, nil, err
	}
	defer gw.probes.unlock()
	r, err := gw.discoverLocked(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r.Methods, r, nil
}

// discover probes the gateway and caches the result.
func (gw *gateway) discover(ctx context.Context) (*DiscoverResult, error) {
	if err := gw.probes.lock(ctx); err != nil {
		return nil, err
	}
	defer gw.probes.unlock()
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
		gw.probes.forget()
		return nil, gw.noAnswer(out.errs, out.halfway(), ctx.Err())
	}
	if fill {
		gw.fillExternal(ctx, r)
	}
	r.Elapsed = time.Since(start)
	gw.log.Debug("probe done", "methods", r.Methods, "unsure", cutKeys(unsure), "external", r.ExternalAddr, "elapsed", r.Elapsed)

	gw.probes.store(r, gw.c.clock().Now(), unsure)
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
	if up, reports := gw.mapper(UPnP).(addrReporter); !r.ExternalAddr.IsValid() && r.Has(UPnP) && reports {
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			r.ExternalAddr, _, err = up.externalAddr(ctx)
			return err
		})
		if err != nil {
			gw.log.Debug("UPnP external address", "err", errText(err))
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
	switch answered, cut := gw.probes.standing(mp.method()); {
	case answered:
		return true, nil
	case cut == cutNone:
		return false, nil
	}
	err := gw.reprobe(ctx, mp)
	return err == nil, err
}

// reprobe asks one method again that the cached probe cut short, with the
// whole probe budget, and records the outcome in the cache.
func (gw *gateway) reprobe(ctx context.Context, mp mapper) error {
	m := mp.method()
	if err := gw.probes.lock(ctx); err != nil {
		return err
	}
	defer gw.probes.unlock()
	switch answered, cut := gw.probes.standing(m); {
	case answered: // another caller asked it meanwhile
		return nil
	case cut == cutNone: // asked meanwhile and failed, or the cache was dropped
		return fmt.Errorf("%w: %s did not answer the probe", ErrTimeout, m)
	}
	gw.log.Debug("asking again a method the probe cut short", "method", m)
	out := gw.collect(ctx, []mapper{mp}, nil)
	info := out.infos[m]
	gw.probes.settle(m, info, out.unsure(m), gw.mappers)
	if info == nil {
		return out.errs[m]
	}
	if info.reset {
		gw.noteReset(nil, m)
	}
	return nil
}

// noAnswer builds the error of a probe nothing answered usably, naming each
// method's failure. halfway says some method had a first answer and then
// fell silent (NAT-PMP's external address answered, its MAP not): the
// gateway is there, so the error is a timeout, not "no gateway".
func (gw *gateway) noAnswer(errs map[Method]error, halfway bool, ctxErr error) error {
	var parts []string
	var all []error
	if ctxErr != nil {
		parts = append(parts, ctxErr.Error())
		all = append(all, ErrTimeout, ctxErr)
	}
	for _, mp := range gw.mappers {
		if err := errs[mp.method()]; err != nil {
			parts = append(parts, byMethod(mp.method(), err).Error())
			all = append(all, err)
		}
	}
	said := gatewaySaid(all)
	return &probeError{gw: gw.addr, msg: strings.Join(parts, "; "), errs: all, answered: said || halfway, halfway: halfway && !said}
}

// probeError is the error of a probe that no method answered usably. It
// wraps ErrNoGateway and the methods' own errors (often ErrTimeout) — unless
// the gateway did answer, with an unusable description or a result code
// (see gatewaySaid): then it is not "no gateway", and it wraps only those
// answers, not the silence of the other methods; or unless some method
// answered half-way and then fell silent: then it wraps the timeouts alone.
type probeError struct {
	gw       netip.Addr
	msg      string
	errs     []error
	answered bool
	halfway  bool // answered, then silent (see gateway.noAnswer)
}

func (e *probeError) Error() string {
	if e.halfway {
		return fmt.Sprintf("upnpmap: gateway %v answered, then stopped answering (%s)", e.gw, e.msg)
	}
	if e.answered {
		return fmt.Sprintf("upnpmap: gateway %v answered, but no method is usable (%s)", e.gw, e.msg)
	}
	return fmt.Sprintf("upnpmap: no answer from gateway %v (%s)", e.gw, e.msg)
}

func (e *probeError) Unwrap() []error {
	if e.answered {
		return definite(e.errs)
	}
	return append([]error{ErrNoGateway}, e.errs...)
}

// gatewaySaid reports whether some error is the gateway's own answer: a
// description it serves that is unusable, or a result code of NAT-PMP, PCP
// or UPnP.
func gatewaySaid(errs []error) bool {
	for _, err := range errs {
		var (
			pmp *natpmp.ResultError
			pc  *pcp.ResultError
			ue  *igd.UPnPError
		)
		if errors.Is(err, ErrUnusableDevice) || errors.Is(err, ErrRefused) ||
			errors.As(err, &pmp) || errors.As(err, &pc) || errors.As(err, &ue) {
			return true
		}
	}
	return false
}

// definite drops the silences (ErrTimeout) from errs when something else is
// left: a definite answer — a refusal, an unusable device, a port
// unreachable — is never reported as a timeout because another method was
// silent.
func definite(errs []error) []error {
	var out []error
	for _, err := range errs {
		if !errors.Is(err, ErrTimeout) {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return errs
	}
	return out
}
