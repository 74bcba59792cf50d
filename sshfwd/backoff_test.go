package sshfwd

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	const min, max = time.Second, time.Minute
	for n, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(n, min, max)
			if d < base || d > base+base/2 {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, base, base+base/2)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter: always %v", n, seen)
		}
	}
	if d := backoff(1000, min, max); d > max+max/2 {
		t.Fatalf("backoff(1000) = %v, beyond the cap", d)
	}
}
