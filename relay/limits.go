package relay

import (
	"net/netip"
	"sync"
)

// Per-source limits.
//
// A source is what one client controls cheaply: an IPv4 address, or an IPv6
// /64 (the smallest prefix an ISP hands out, so one subscriber can pick any
// address in it). One source may hold at most MaxConnsPerSource TCP
// connections and MaxSessionsPerSource UDP sessions; beyond that its newcomers
// are refused, so a single host cannot fill the tables for everyone else.

// sourceV6Bits is the IPv6 prefix length that counts as one source.
const sourceV6Bits = 64

// sourceOf is the source a client address belongs to.
func sourceOf(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(sourceV6Bits)
	return p
}

// sourceCounts counts live entries per source against a limit. Its zero
// value, or a limit <= 0, admits everyone and keeps no map.
type sourceCounts struct {
	max int

	mu sync.Mutex
	n  map[netip.Prefix]int
}

func newSourceCounts(max int) *sourceCounts {
	return &sourceCounts{max: max, n: make(map[netip.Prefix]int)}
}

// take reserves an entry for src; it reports false when src is at the limit.
// An invalid src (a client without an IP address) is never limited.
func (sc *sourceCounts) take(src netip.Prefix) bool {
	if sc == nil || sc.max <= 0 || !src.IsValid() {
		return true
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.n[src] >= sc.max {
		return false
	}
	sc.n[src]++
	return true
}

// give returns an entry that take reserved.
func (sc *sourceCounts) give(src netip.Prefix) {
	if sc == nil || sc.max <= 0 || !src.IsValid() {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.n[src] <= 1 {
		delete(sc.n, src)
		return
	}
	sc.n[src]--
}
