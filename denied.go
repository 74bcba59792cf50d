package upnpmap

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// deniedHold is how long a NAT-PMP or PCP request that the gateway denied
// (NOT_AUTHORIZED), or left unanswered while it answers the method
// otherwise, is not sent again. miniupnpd, asked to map a port its rules
// deny, walks all 65,535 external ports before it answers — about 45 s in
// which it answers nobody — and a client's retransmissions queue up more of
// the same (research/miniupnpd-lab.md). The hold covers that stall.
const deniedHold = 2 * time.Minute

// deniedKey names a request: the method, and the mapping's protocol and
// internal address and port (what NAT-PMP and PCP map by).
type deniedKey struct {
	method Method
	proto  Protocol
	host   [16]byte
	port   uint16
}

// deniedRequests remembers the NAT-PMP and PCP mapping requests a gateway
// denied, so that the same request is never sent twice in a row within
// deniedHold: the second fails at once with the first one's error.
type deniedRequests struct {
	mu   sync.Mutex
	seen map[deniedKey]deniedEntry
}

type deniedEntry struct {
	err error
	at  time.Time
}

func keyOf(m Method, q *mapReq) deniedKey {
	return deniedKey{method: m, proto: q.proto, host: q.internal.Addr().As16(), port: q.internal.Port()}
}

// check returns the error to fail with when q was denied through m lately.
func (d *deniedRequests) check(m Method, q *mapReq, now time.Time) error {
	if m != NATPMP && m != PCP {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.seen[keyOf(m, q)]
	if !ok || now.Sub(e.at) >= deniedHold {
		return nil
	}
	return fmt.Errorf("not asked again within %v (a router stalls on a denied port: miniupnpd for about 45 s): %w", deniedHold, e.err)
}

// note records the outcome of q's request through m: a refusal
// (ErrNotAuthorized), or silence (ErrTimeout) from a method that answered
// the probe (alive), is remembered; anything else forgets q.
func (d *deniedRequests) note(m Method, q *mapReq, err error, alive bool, now time.Time) {
	if m != NATPMP && m != PCP {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := keyOf(m, q)
	if errors.Is(err, ErrNotAuthorized) || alive && errors.Is(err, ErrTimeout) {
		if d.seen == nil {
			d.seen = make(map[deniedKey]deniedEntry)
		}
		d.seen[k] = deniedEntry{err: err, at: now}
		return
	}
	delete(d.seen, k)
}
