package upnpmap

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// probeGrace is how long Discover waits for the other methods once one has
// answered (or twice that answer's round trip, if longer): a gateway that
// speaks several answers them within a round trip of each other, so a longer
// wait only costs callers (Tailscale waits 50 ms too; less loses answers on
// a busy host).
const probeGrace = 50 * time.Millisecond

// Discover probes the gateway with every enabled method at once (a PCP
// ANNOUNCE, a NAT-PMP external address request, an SSDP search unicast to the
// gateway, plus multicast when the gateway came from the routing table or
// Interfaces are set) and returns as soon as the answers are in: at once when
// every method answered, 50 ms after the first answer otherwise, or after
// ProbeTimeout when nothing answers (the error then wraps ErrNoGateway and
// ErrTimeout). What it learns is kept for later calls to Map.
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

// probeMsg is one report of a probe goroutine.
type probeMsg struct {
	mp    mapper
	alive bool // a first answer arrived, more work follows
	info  *probeInfo
	err   error
}

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
	pctx, cancel := context.WithTimeout(ctx, gw.c.probeTimeout())
	infos, errs := gw.collect(pctx, cancel)

	r := &DiscoverResult{Gateway: gw.addr, Local: gw.local}
	for _, mp := range gw.mappers {
		info := infos[mp.method()]
		if info == nil {
			continue
		}
		r.Methods = append(r.Methods, mp.method())
		if !r.ExternalAddr.IsValid() && info.external.IsValid() {
			r.ExternalAddr = info.external
		}
		if info.device != "" || info.location != "" {
			r.Device, r.Location = info.device, info.location
		}
		if info.reset {
			gw.noteReset(nil, mp.method())
		}
	}
	if len(r.Methods) == 0 {
		gw.forget()
		return nil, gw.noAnswer(errs, ctx.Err())
	}
	// Only UPnP left to ask for the external address (PCP's ANNOUNCE does
	// not carry one): one more round trip, under the gateway's lock.
	if up := gw.mapper(UPnP); !r.ExternalAddr.IsValid() && infos[UPnP] != nil && up != nil {
		err := gw.call(ctx, func(ctx context.Context) (err error) {
			r.ExternalAddr, err = up.externalAddr(ctx)
			return err
		})
		if err != nil {
			gw.log.Debug("UPnP external address", "err", err)
		}
	}
	r.ExternalPrivate = r.ExternalAddr.IsValid() && notPublic(r.ExternalAddr)
	r.Elapsed = time.Since(start)
	gw.log.Debug("probe done", "methods", r.Methods, "external", r.ExternalAddr, "elapsed", r.Elapsed)

	gw.mu.Lock()
	gw.result, gw.probedAt = r, gw.c.clock().Now()
	gw.mu.Unlock()
	cp := *r
	cp.Methods = append([]Method(nil), r.Methods...)
	return &cp, nil
}

// collect runs one probe goroutine per method and gathers their answers. It
// returns when every probe is done; or when at least one answered, the grace
// after the first answer has passed and no probe is half-way (alive); or
// when pctx ends. It cancels pctx and waits for the goroutines before
// returning, so no probe outlives Discover.
func (gw *gateway) collect(pctx context.Context, cancel context.CancelFunc) (map[Method]*probeInfo, map[Method]error) {
	defer cancel()
	ch := make(chan probeMsg, 2*len(gw.mappers))
	var wg sync.WaitGroup
	for _, mp := range gw.mappers {
		wg.Add(1)
		go probeOne(pctx, mp, ch, &wg)
	}
	defer wg.Wait()
	defer cancel() // runs before wg.Wait

	infos := make(map[Method]*probeInfo)
	errs := make(map[Method]error)
	alive := make(map[Method]bool)
	pending := len(gw.mappers)
	start := time.Now()
	var (
		grace     *time.Timer
		graceC    <-chan time.Time
		graceOver bool
	)
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for pending > 0 {
		if graceOver && len(alive) == 0 {
			break
		}
		select {
		case msg := <-ch:
			m := msg.mp.method()
			if msg.alive {
				alive[m] = true
				continue
			}
			pending--
			delete(alive, m)
			if msg.err != nil {
				errs[m] = msg.err
				gw.log.Debug("probe", "method", m, "err", msg.err)
				continue
			}
			infos[m] = msg.info
			if grace == nil {
				// The others get the grace, or twice the first answer's
				// round trip on a slow link.
				grace = time.NewTimer(max(probeGrace, 2*time.Since(start)))
				graceC = grace.C
			}
		case <-graceC:
			graceOver = true
		case <-pctx.Done():
			for _, mp := range gw.mappers {
				if m := mp.method(); infos[m] == nil && errs[m] == nil {
					errs[m] = fmt.Errorf("%w: no answer within %v", ErrTimeout, gw.c.probeTimeout())
				}
			}
			return infos, errs
		}
	}
	return infos, errs
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
