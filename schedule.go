package upnpmap

import (
	"math"
	"time"
)

// Renewal timing.
//
// PCP follows RFC 6887 §11.2.1: the first renewal at a random point in
// [1/2, 5/8] of the lifetime, then, while unanswered, in [3/4, 3/4+1/16],
// [7/8, 7/8+1/32] and so on, never less than pcpMinGap apart. NAT-PMP (RFC 6886
// §3.3) and UPnP renew at half the granted lifetime; failed attempts are
// retried at 3/4, 7/8, … of it (the same halving without the random spread),
// at least a second apart. After expiry the mapping counts as lost and is
// re-created with an exponential backoff.
const (
	pcpMinGap  = 4 * time.Second // RFC 6887 §11.2.1: MUST NOT be less than 4 s apart
	minGap     = time.Second     // NAT-PMP and UPnP: our own floor against tight loops
	maxBackoff = time.Minute     // cap of the restoration backoff
)

// renewGap is the minimum time between two renewal attempts of one mapping.
func renewGap(m Method) time.Duration {
	if m == PCP {
		return pcpMinGap
	}
	return minGap
}

// renewalTime says when attempt n (0 for the first; n counts the failed
// attempts since the lease was granted) to renew a lease granted at start for
// lifetime should be made. last is the previous attempt (zero if none) and
// rnd a uniform random number in [0, 1). It returns false when no attempt
// fits before the lease ends.
func renewalTime(m Method, start time.Time, lifetime time.Duration, n int, last time.Time, rnd float64) (time.Time, bool) {
	if lifetime <= 0 || n > 60 {
		return time.Time{}, false
	}
	frac := 1 - math.Ldexp(1, -(n+1)) // 1/2, 3/4, 7/8, …
	if m == PCP {
		frac += rnd * math.Ldexp(1, -(n+3)) // + up to 1/8, 1/16, 1/32, …
	}
	t := start.Add(time.Duration(frac * float64(lifetime)))
	if !last.IsZero() {
		if floor := last.Add(renewGap(m)); t.Before(floor) {
			t = floor
		}
	}
	if !t.Before(start.Add(lifetime)) {
		return time.Time{}, false
	}
	return t, true
}

// restoreBackoff is the wait before restoration attempt k (0-based) of a
// lost mapping: the method's renewal gap, doubling, at most maxBackoff.
func restoreBackoff(m Method, k int) time.Duration {
	d := renewGap(m)
	for i := 0; i < k && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
