package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

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
