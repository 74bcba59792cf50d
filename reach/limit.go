package reach

import (
	"net/netip"
	"sync"
	"time"
)

// limiter keeps one token bucket per source: an IPv4 address, or the /64 an
// IPv6 address is in (one home network usually holds a whole /64, so limiting
// single IPv6 addresses would limit nothing).
type limiter struct {
	rate       float64 // tokens per second
	burst      float64
	maxSources int

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sourceKey is the unit a source is limited by.
func sourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// allow takes one token from the source's bucket. It returns false, and the
// time until a token is back, when the bucket is empty or the table of
// sources is full.
func (l *limiter) allow(src netip.Addr, now time.Time) (bool, time.Duration) {
	k := sourceKey(src)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[netip.Prefix]*bucket)
	}
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.maxSources {
			l.sweep(now)
			if len(l.buckets) >= l.maxSources {
				return false, time.Second
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[k] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// sweep forgets the sources whose bucket has refilled: they are
// indistinguishable from new ones.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
