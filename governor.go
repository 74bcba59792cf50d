package upnpmap

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The ceiling on requests to one gateway (see governor).
const (
	// governorBurst is how many exchanges may go to a gateway at once after
	// a quiet spell.
	governorBurst = 10
	// governorRate is how many exchanges per second may go to a gateway in
	// the long run.
	governorRate = 2
)

// governor is the ceiling on what a Client sends to one gateway: a token
// bucket of governorBurst exchanges, refilled at governorRate per second.
// Every exchange with the gateway takes a token (gateway.call) — renewals,
// restorations, checks, announcement confirmations, GENA SUBSCRIBEs (see
// subscriber.subscribe), List, ExternalAddr, Delete — so that no bug
// anywhere, and nothing a router or a LAN host says, can make the Client
// storm a router. The exchanges a caller makes once per
// mapping are exempt (gateway.callExempt): the first Map of a mapping (its
// probe and its request) and its Close, so that opening or closing many
// mappings at once is never delayed. An exchange is one method-level
// request (a NAT-PMP renewal is its external address request and its MAP;
// choosing among a device's several UPnP connection services, a
// GetStatusInfo each, is one too, even within a first Map, see
// upnpMapper.fetch).
// Time is the Client's clock, so tests that step it refill the bucket.
type governor struct {
	clk clock

	mu     sync.Mutex
	tokens float64
	at     time.Time // when tokens was last brought up to date
	primed bool      // tokens holds a value (the zero governor starts full)
}

// wait takes a token, waiting for one as long as ctx allows.
func (g *governor) wait(ctx context.Context) error {
	for {
		d := g.take()
		if d == 0 {
			return nil
		}
		t := g.clk.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("upnpmap: %w: request ceiling of the gateway (%d per second): %w", ErrTimeout, governorRate, ctx.Err())
		}
	}
}

// take takes a token if there is one and returns 0, or returns how long
// until there is one.
func (g *governor) take() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	if !g.primed {
		g.tokens, g.at, g.primed = governorBurst, now, true
	}
	if el := now.Sub(g.at); el > 0 {
		g.tokens = min(governorBurst, g.tokens+el.Seconds()*governorRate)
		g.at = now
	}
	if g.tokens >= 1 {
		g.tokens--
		return 0
	}
	return max(time.Duration((1-g.tokens)/governorRate*float64(time.Second)), time.Millisecond)
}
