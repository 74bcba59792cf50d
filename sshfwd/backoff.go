package sshfwd

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before reconnection attempt n (0-based): min doubled n
// times, capped at max, plus up to half of it at random so that many clients
// cut off together do not return together.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d + rand.N(d/2+1)
}
