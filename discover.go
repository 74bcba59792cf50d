package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Discover probes the gateway with every enabled method at once (a PCP
// ANNOUNCE, a NAT-PMP external address request, an SSDP search unicast to the
// gateway, plus multicast from 100 ms on when the gateway came from the
// routing table or Interfaces are set) and returns as soon as the answers
// are in:
//
//   - at once when every method has answered or failed for good (an ICMP
//     port unreachable, a PCP server that speaks only NAT-PMP);
//   - otherwise 250 ms after the first answer (twice that answer's round
//     trip on a slower link). SSDP responders delay their answers on purpose
//     — miniupnpd by up to 120 ms, UDA devices by up to MX seconds — so
//     UPnP is the method that most often arrives late;
//   - a method whose first answer is in by then (UPnP: the SSDP answer,
//     with the device description still being fetched) is waited for, up to
//     RequestTimeout from that answer;
//   - after ProbeTimeout (1 s) when nothing answers; the error then wraps
//     ErrNoGateway and ErrTimeout and names each method's failure.
//
// What it learns is kept for later calls to Map (for ten minutes). A method
// that was cut short by the grace is not recorded as missing: Map falls back
// to it, and List and ExternalAddr use it, after asking it again on its own.
// (A Map with nothing cached makes a probe of its own that stops sooner; see
// Map.)
func (c *Client) Discover(ctx context.Context) (*DiscoverResult, error) {
	gw, err := c.gateway(ctx)
	if err != nil {
		return nil, err
	}
	return gw.discover(ctx)
}

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

// cutReason says why the collector stopped waiting for a probe.
type cutReason int

const (
	cutNone    cutReason = iota
	cutGrace             // another method answered and the grace ran out
	cutBudget            // ProbeTimeout ran out
	cutAlive             // half-way, it did not finish within RequestTimeout
	cutCaller            // the caller's context ended
	cutSettled           // Map's path: a preferred method had answered
)

// probeOutcome is what collect gathered.
type probeOutcome struct {
	infos map[Method]*probeInfo
	errs  map[Method]error
	cut   map[Method]cutReason
	any   bool // some method answered
	// mapped is the outcome of the probe that was a mapping request (Map's
	// path, see mapProber); nil when there was none, or it was cut short
	// (unless its grant came just then: the mapping exists, it is used).
	mapped *mapTry
}

// mapTry is the outcome of a probe that was a mapping request: the grant,
// or the gateway's refusal.
type mapTry struct {
	mp  mapper
	g   *grant
	err error
}

// unsure says whether m neither answered nor failed for good: its probe was
// cut short while another method had answered (or half-way, or by the
// caller), so it may well be there.
func (o *probeOutcome) unsure(m Method) bool {
	switch o.cut[m] {
	case cutNone:
		return false
	case cutBudget:
		return o.any
	}
	return true
}

// probeMsg is one report of a probe goroutine.
type probeMsg struct {
	mp    mapper
	alive bool // a first answer arrived, more work follows
	info  *probeInfo
	err   error
	// mapped is set by a probe that was a mapping request and was answered
	// (info is then set too, err nil).
	mapped *mapTry
}

// probeRun is the collector's view of one running probe.
type probeRun struct {
	cancel   context.CancelCauseFunc
	alive    bool
	done     bool
	deadline *time.Timer // RequestTimeout after alive
}

// mapHeadStart is how long, on Map's path, the mapping probe of the first
// method (see mapProber) goes alone before the other methods' probes follow;
// they start at once when it fails. A router that maps by PCP — its answer
// takes a round trip and the time to add a rule — never sees the others: no
// SSDP search on the LAN, no NAT-PMP request queued before the MAP on a
// single-threaded daemon (miniupnpd answers one request at a time, and a
// burst of M-SEARCHes delayed its MAP answer by 10–30 ms in the lab). A
// router that drops PCP silently costs this much more; one that refuses it
// (ICMP port unreachable, a NAT-PMP server's version error) nothing.
const mapHeadStart = 50 * time.Millisecond

// errProbeOver cancels the probes still running when collect returns.
var errProbeOver = errors.New("probe over")

// collect runs one probe goroutine per mapper and gathers their answers. A
// probe ends when it answers or fails; the collector cuts it short when
// another method answered and the grace ran out, or when ProbeTimeout ran
// out — unless it is half-way (alive: UPnP's SSDP answer is in), which gets
// RequestTimeout from then instead. collect returns when no probe is left,
// and waits for the goroutines, so no probe outlives Discover.
//
// With q (Map's path) two things change. The first mapper, if its probe can
// lead straight to the mapping (mapProber: PCP's MAP, NAT-PMP's address
// request and MAP), makes q's mapping as its probe, and the other probes
// follow it after mapHeadStart (at once if it fails). And collect stops as
// soon as the best method still possible has answered — every method it
// prefers has failed (or, for the mapping, been refused) — cutting the
// others short (they count as unsure, see ready): Map needs one method, not
// the list Discover reports.
func (gw *gateway) collect(ctx context.Context, mappers []mapper, q *mapReq) *probeOutcome {
	out := &probeOutcome{
		infos: make(map[Method]*probeInfo),
		errs:  make(map[Method]error),
		cut:   make(map[Method]cutReason),
	}
	ch := make(chan probeMsg, 2*len(mappers))
	deadlines := make(chan Method, len(mappers))
	runs := make(map[Method]*probeRun, len(mappers))
	var wg sync.WaitGroup
	defer wg.Wait()
	var held []func() // probes waiting for the MAP probe's head start
	mpr, mapFirst := mappers[0].(mapProber)
	mapFirst = mapFirst && q != nil
	for i, mp := range mappers {
		pctx, cancel := context.WithCancelCause(ctx)
		runs[mp.method()] = &probeRun{cancel: cancel}
		switch {
		case mapFirst && i == 0:
			wg.Add(1)
			go gw.probeByMapping(pctx, mp, mpr, q, ch, &wg)
		case mapFirst:
			held = append(held, func() {
				wg.Add(1)
				go probeOne(pctx, mp, ch, &wg)
			})
		default:
			wg.Add(1)
			go probeOne(pctx, mp, ch, &wg)
		}
	}
	// The other probes follow a MAP probe after mapHeadStart, or at once
	// when it fails.
	var headStart <-chan time.Time
	if len(held) > 0 {
		t := time.NewTimer(mapHeadStart)
		defer t.Stop()
		headStart = t.C
	}
	release := func() {
		for _, start := range held {
			start()
		}
		held, headStart = nil, nil
	}
	defer func() { // runs before wg.Wait
		for _, r := range runs {
			r.cancel(errProbeOver)
			if r.deadline != nil {
				r.deadline.Stop()
			}
		}
	}()

	start := time.Now()
	budget := time.NewTimer(gw.c.probeTimeout())
	defer budget.Stop()
	var grace *time.Timer
	var graceC <-chan time.Time
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()

	pending := len(mappers)
	cut := func(m Method, why cutReason, err error) {
		r := runs[m]
		r.cancel(err) // a held probe, never started, is just marked
		r.done = true
		pending--
		out.cut[m], out.errs[m] = why, err
	}
	// cutWaiting cuts the probes that have not answered at all.
	cutWaiting := func(why cutReason, err error) {
		for m, r := range runs {
			if !r.done && !r.alive {
				cut(m, why, err)
			}
		}
	}
	// cutAll cuts every probe still running, half-way or not.
	cutAll := func(why cutReason, err error) {
		for m, r := range runs {
			if !r.done {
				cut(m, why, err)
			}
		}
	}
	for pending > 0 {
		select {
		case msg := <-ch:
			m := msg.mp.method()
			r := runs[m]
			if r.done {
				continue // cut already; its late report does not count
			}
			if msg.alive {
				r.alive = true
				r.deadline = time.AfterFunc(gw.c.requestTimeout(), func() { deadlines <- m })
				continue
			}
			r.done = true
			pending--
			if msg.mapped == nil || msg.mapped.err != nil {
				release() // no mapping from the MAP probe (if it was one)
			}
			if msg.err != nil {
				out.errs[m] = msg.err
				gw.log.Debug("probe", "method", m, "err", msg.err)
			} else {
				out.infos[m], out.any = msg.info, true
				if msg.mapped != nil {
					out.mapped = msg.mapped
				}
				if grace == nil {
					grace = time.NewTimer(max(probeGrace, 2*time.Since(start)))
					graceC = grace.C
				}
			}
		case <-headStart:
			release()
		case <-graceC:
			cutWaiting(cutGrace, fmt.Errorf("%w: no answer within %v of the first method's", ErrTimeout, probeGrace))
		case <-budget.C:
			cutWaiting(cutBudget, fmt.Errorf("%w: no answer within %v", ErrTimeout, gw.c.probeTimeout()))
		case m := <-deadlines:
			if r := runs[m]; !r.done {
				cut(m, cutAlive, fmt.Errorf("%w: answered, but did not finish within %v", ErrTimeout, gw.c.requestTimeout()))
			}
		case <-ctx.Done():
			cutAll(cutCaller, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err()))
		}
		if q != nil && pending > 0 && out.settled(mappers, runs) {
			cutAll(cutSettled, errProbeSettled)
		}
	}
	// Stop the probes cut short and wait for them. A MAP probe whose grant
	// came just as it was cut made a mapping on the gateway: it is used, not
	// leaked.
	for _, r := range runs {
		r.cancel(errProbeOver)
	}
	wg.Wait()
	for len(ch) > 0 {
		msg := <-ch
		if t := msg.mapped; t != nil && t.g != nil && out.mapped == nil {
			m := msg.mp.method()
			out.mapped, out.infos[m], out.any = t, msg.info, true
			delete(out.errs, m)
			delete(out.cut, m)
		}
	}
	return out
}

// errProbeSettled is the error of a probe that Map's path cut short because
// a method it prefers had answered.
var errProbeSettled = fmt.Errorf("%w: not needed, a preferred method answered first", ErrTimeout)

// settled says, on Map's path, whether the probe can stop: going down the
// preference order past the methods that failed (or whose MAP was refused),
// the first one left has answered. A method still running before it means
// waiting on (until it answers, fails, or the grace runs out).
func (o *probeOutcome) settled(mappers []mapper, runs map[Method]*probeRun) bool {
	for _, mp := range mappers {
		m := mp.method()
		if !runs[m].done {
			return false
		}
		refused := o.mapped != nil && o.mapped.mp == mp && o.mapped.err != nil
		if o.infos[m] != nil && !refused {
			return true
		}
	}
	return false
}

// probeOne runs one method's probe and reports on ch.
func probeOne(ctx context.Context, mp mapper, ch chan<- probeMsg, wg *sync.WaitGroup) {
	defer wg.Done()
	var once sync.Once
	info, err := mp.probe(ctx, func() {
		once.Do(func() { ch <- probeMsg{mp: mp, alive: true} })
	})
	if err == nil && info == nil {
		info = &probeInfo{}
	}
	ch <- probeMsg{mp: mp, info: info, err: err}
}

// probeByMapping runs a mapProber's probe: q's mapping request itself, with
// the gateway's lock held as for any change to its table.
func (gw *gateway) probeByMapping(ctx context.Context, mp mapper, mpr mapProber, q *mapReq, ch chan<- probeMsg, wg *sync.WaitGroup) {
	defer wg.Done()
	var (
		g        *grant
		answered bool
	)
	err := gw.call(ctx, func(ctx context.Context) (err error) {
		g, answered, err = mpr.probeMap(ctx, q)
		return err
	})
	if !answered {
		ch <- probeMsg{mp: mp, err: err}
		return
	}
	ch <- probeMsg{mp: mp, info: &probeInfo{}, mapped: &mapTry{mp: mp, g: g, err: err}}
}

// cutKeys lists the methods of a set of cut probes, for logs.
func cutKeys(set map[Method]cutReason) []Method {
	out := make(map[Method]bool, len(set))
	for m := range set {
		out[m] = true
	}
	return keys(out)
}

// keys lists the methods of a set, for logs.
func keys(set map[Method]bool) []Method {
	var out []Method
	for _, m := range defaultMethods {
		if set[m] {
			out = append(out, m)
		}
	}
	return out
}
