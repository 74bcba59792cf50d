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

// halfway says whether some probe was cut short after its first answer
// (cutAlive): the gateway answered, then fell silent.
func (o *probeOutcome) halfway() bool {
	for _, why := range o.cut {
		if why == cutAlive {
			return true
		}
	}
	return false
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
	c := &collector{
		gw:        gw,
		out:       &probeOutcome{infos: make(map[Method]*probeInfo), errs: make(map[Method]error), cut: make(map[Method]cutReason)},
		ch:        make(chan probeMsg, 2*len(mappers)),
		deadlines: make(chan Method, len(mappers)),
		runs:      make(map[Method]*probeRun, len(mappers)),
		pending:   len(mappers),
		start:     time.Now(),
	}
	// Launch one probe per mapper. On Map's path with a mapProber first
	// (and not a request the gateway denied lately, see deniedRequests),
	// that one makes q's mapping, here, and the others are held for
	// mapHeadStart (see release).
	mpr, mapFirst := mappers[0].(mapProber)
	mapFirst = mapFirst && q != nil && gw.denied.check(mappers[0].method(), q, gw.c.clock().Now()) == nil
	var firstCtx context.Context
	for i, mp := range mappers {
		pctx, cancel := context.WithCancelCause(ctx)
		c.runs[mp.method()] = &probeRun{cancel: cancel}
		switch {
		case mapFirst && i == 0:
			c.wg.Add(1)
			firstCtx = pctx // cancelled when the collector cuts it
		case mapFirst:
			c.held = append(c.held, func() {
				c.wg.Add(1)
				go probeOne(pctx, mp, c.ch, &c.wg)
			})
		default:
			c.wg.Add(1)
			go probeOne(pctx, mp, c.ch, &c.wg)
		}
	}
	if len(c.held) > 0 {
		c.headTimer = time.NewTimer(mapHeadStart)
		c.headStart = c.headTimer.C
	}
	if !mapFirst {
		c.loop(ctx, mappers, q)
		return c.out
	}
	// Map's path: the mapping request runs in this goroutine, straight to
	// the wire, with the gateway's lock held as for any change to its
	// table, while the collector runs beside it (collectBeside).
	first := mappers[0]
	over := make(chan struct{})
	go c.collectBeside(ctx, mappers, q, over)
	var (
		g        *grant
		answered bool
	)
	lctx, release, err := gw.acquire(firstCtx)
	if err == nil {
		var once sync.Once
		g, answered, err = mpr.probeMap(lctx, q, func() {
			once.Do(func() { c.ch <- probeMsg{mp: first, alive: true} })
		})
		release()
	}
	gw.denied.note(first.method(), q, err, false, gw.c.clock().Now())
	msg := probeMsg{mp: first, err: err}
	if answered {
		msg = probeMsg{mp: first, info: &probeInfo{}, mapped: &mapTry{mp: first, g: g, err: err}}
	}
	c.ch <- msg
	c.wg.Done()
	<-over
	return c.out
}

// collectBeside is the collector's goroutine on Map's path (see collect).
func (c *collector) collectBeside(ctx context.Context, mappers []mapper, q *mapReq, over chan<- struct{}) {
	defer close(over)
	c.loop(ctx, mappers, q)
}

// loop gathers the probes' reports until none is pending, cutting them
// short as collect describes, then waits for them (finish).
func (c *collector) loop(ctx context.Context, mappers []mapper, q *mapReq) {
	gw := c.gw
	defer c.stopTimers()
	budget := time.NewTimer(gw.c.probeTimeout())
	defer budget.Stop()
	for c.pending > 0 {
		select {
		case msg := <-c.ch:
			c.receive(msg)
		case <-c.headStart:
			c.release()
		case <-c.graceC:
			c.cutWaiting(cutGrace, fmt.Errorf("%w: no answer within %v of the first method's", ErrTimeout, probeGrace))
		case <-budget.C:
			c.cutWaiting(cutBudget, fmt.Errorf("%w: no answer within %v", ErrTimeout, gw.c.probeTimeout()))
		case m := <-c.deadlines:
			if r := c.runs[m]; !r.done {
				c.cut(m, cutAlive, fmt.Errorf("%w: answered, but did not finish within %v", ErrTimeout, gw.c.requestTimeout()))
			}
		case <-ctx.Done():
			c.cutAll(cutCaller, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err()))
		}
		if q != nil && c.pending > 0 && c.out.settled(mappers, c.runs) {
			c.cutAll(cutSettled, errProbeSettled)
		}
	}
	c.finish()
}

// collector is the state of one collect: the probes it runs and what they
// reported.
type collector struct {
	gw        *gateway
	out       *probeOutcome
	ch        chan probeMsg
	deadlines chan Method // a half-way probe's RequestTimeout ran out
	runs      map[Method]*probeRun
	wg        sync.WaitGroup
	pending   int       // probes neither answered, failed nor cut
	start     time.Time // for the grace, which scales with the first answer's round trip

	held      []func()         // probes waiting for the MAP probe's head start
	headStart <-chan time.Time // fires mapHeadStart after the launch, while held
	headTimer *time.Timer      // nil without held probes
	grace     *time.Timer      // started by the first answer
	graceC    <-chan time.Time // grace's channel once started
}

// release starts the held probes: after mapHeadStart, or at once when the
// MAP probe gave no mapping.
func (c *collector) release() {
	for _, start := range c.held {
		start()
	}
	c.held, c.headStart = nil, nil
}

// receive takes one probe's report.
func (c *collector) receive(msg probeMsg) {
	m := msg.mp.method()
	r := c.runs[m]
	if r.done {
		return // cut already; its late report does not count
	}
	if msg.alive {
		r.alive = true
		r.deadline = time.AfterFunc(c.gw.c.requestTimeout(), func() { c.deadlines <- m })
		return
	}
	r.done = true
	c.pending--
	if msg.mapped == nil || msg.mapped.err != nil {
		c.release() // no mapping from the MAP probe (if it was one)
	}
	if msg.err != nil {
		c.out.errs[m] = msg.err
		c.gw.log.Debug("probe", "method", m, "err", errText(msg.err))
		return
	}
	c.out.infos[m], c.out.any = msg.info, true
	if msg.mapped != nil {
		c.out.mapped = msg.mapped
	}
	if c.grace == nil {
		c.grace = time.NewTimer(max(probeGrace, 2*time.Since(c.start)))
		c.graceC = c.grace.C
	}
}

// cut stops waiting for m's probe, for reason why.
func (c *collector) cut(m Method, why cutReason, err error) {
	r := c.runs[m]
	r.cancel(err) // a held probe, never started, is just marked
	r.done = true
	c.pending--
	c.out.cut[m], c.out.errs[m] = why, err
}

// cutWaiting cuts the probes that have not answered at all.
func (c *collector) cutWaiting(why cutReason, err error) {
	for m, r := range c.runs {
		if !r.done && !r.alive {
			c.cut(m, why, err)
		}
	}
}

// cutAll cuts every probe still running, half-way or not.
func (c *collector) cutAll(why cutReason, err error) {
	for m, r := range c.runs {
		if !r.done {
			c.cut(m, why, err)
		}
	}
}

// finish stops the probes cut short and waits for them, so that no probe
// outlives collect. A MAP probe whose grant came just as it was cut made a
// mapping on the gateway: it is used, not leaked.
func (c *collector) finish() {
	for _, r := range c.runs {
		r.cancel(errProbeOver)
	}
	c.wg.Wait()
	for len(c.ch) > 0 {
		msg := <-c.ch
		if t := msg.mapped; t != nil && t.g != nil && c.out.mapped == nil {
			m := msg.mp.method()
			c.out.mapped, c.out.infos[m], c.out.any = t, msg.info, true
			delete(c.out.errs, m)
			delete(c.out.cut, m)
		}
	}
}

// stopTimers stops the collector's timers and ends the probes' contexts
// (when finish did not run, e.g. on a panic).
func (c *collector) stopTimers() {
	for _, r := range c.runs {
		r.cancel(errProbeOver)
		if r.deadline != nil {
			r.deadline.Stop()
		}
	}
	if c.headTimer != nil {
		c.headTimer.Stop()
	}
	if c.grace != nil {
		c.grace.Stop()
	}
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
