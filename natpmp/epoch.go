package natpmp

import "time"

// epochTracker applies RFC 6886 §3.6: the gateway's seconds-since-start-of-
// epoch (SSSoE) must advance at least about as fast as the client's clock. The
// client's conservative estimate is the previous SSSoE plus 7/8 of the time
// that passed locally since that packet; a value more than 2 s below the
// estimate means the gateway rebooted or otherwise lost its mappings.
type epochTracker struct {
	have  bool
	sssoe uint32
	at    time.Time
}

// observe records an SSSoE received at now and reports whether it shows a
// loss of state since the previous one. The first value is always accepted.
func (e *epochTracker) observe(sssoe uint32, now time.Time) (lost bool) {
	if e.have {
		elapsed := now.Sub(e.at)
		if elapsed < 0 {
			elapsed = 0
		}
		// In milliseconds so that 7/8 of a short interval is not rounded away.
		estimate := int64(e.sssoe)*1000 + elapsed.Milliseconds()*7/8
		lost = int64(sssoe)*1000+2000 < estimate
	}
	e.have, e.sssoe, e.at = true, sssoe, now
	return lost
}
