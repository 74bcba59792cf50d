// Package epoch follows the epoch a NAT-PMP or PCP server sends in every
// response: a count of seconds since it last lost its mappings. A value that
// does not advance with the client's own clock means the server rebooted or
// otherwise forgot its state, and the client must map again (RFC 6886 §3.6,
// §3.7; RFC 6887 §8.5). The two RFCs judge "does not advance" differently, so
// each has its Rule; Watch keeps the previous observation and holds a loss
// until the caller reports it, so that a reset seen in an error reply or a
// delete reaches the next successful response.
package epoch

import (
	"sync"
	"time"
)

// Rule reports whether cur, received at now, shows that the server lost its
// state since prev, received at prevAt.
type Rule func(prev uint32, prevAt time.Time, cur uint32, now time.Time) (lost bool)

// NATPMP is RFC 6886 §3.6: the estimate is the previous seconds-since-start-
// of-epoch plus 7/8 of the client time elapsed since; a value more than 2 s
// below the estimate means lost state.
func NATPMP(prev uint32, prevAt time.Time, cur uint32, now time.Time) bool {
	elapsed := max(now.Sub(prevAt), 0)
	// In milliseconds so that 7/8 of a short interval is not rounded away.
	estimate := int64(prev)*1000 + elapsed.Milliseconds()*7/8
	return int64(cur)*1000+2000 < estimate
}

// PCP is RFC 6887 §8.5: the epoch must not go back by more than a second,
// and the server's and client's deltas must agree within 2 s and 1/16.
func PCP(prev uint32, prevAt time.Time, cur uint32, now time.Time) bool {
	if int64(cur) < int64(prev)-1 {
		return true
	}
	// Signed arithmetic: a server time one second behind (allowed above)
	// must not wrap around into a huge delta.
	clientDelta := max(int64(now.Sub(prevAt)/time.Second), 0)
	serverDelta := int64(cur) - int64(prev)
	return clientDelta+2 < serverDelta-serverDelta/16 ||
		serverDelta+2 < clientDelta-clientDelta/16
}

// Watch follows one server's epoch. Its zero value is ready; it is safe for
// concurrent use.
type Watch struct {
	mu      sync.Mutex
	have    bool
	prev    uint32
	prevAt  time.Time
	pending bool // a loss not yet taken by TakeReset
}

// Observe judges cur, received at now, by rule against the previous value,
// records it whatever the outcome (both RFCs say so), and reports whether it
// shows lost state. The first value is always accepted. A loss stays pending
// until TakeReset.
func (w *Watch) Observe(rule Rule, cur uint32, now time.Time) (lost bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lost = w.have && rule(w.prev, w.prevAt, cur, now)
	w.have, w.prev, w.prevAt = true, cur, now
	w.pending = w.pending || lost
	return lost
}

// TakeReset reports whether a loss was observed since the previous call, and
// clears it.
func (w *Watch) TakeReset() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.pending
	w.pending = false
	return r
}
