package upnpmap

import (
	"testing"
	"time"
)

func TestRenewalTimePCP(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const lt = 1000 * time.Second
	// RFC 6887 §11.2.1: attempt n in [1-2^-(n+1), 1-2^-(n+1)+2^-(n+3)] of the lifetime.
	cases := []struct {
		n      int
		lo, hi time.Duration
	}{
		{0, 500 * time.Second, 625 * time.Second},
		{1, 750 * time.Second, 812500 * time.Millisecond},
		{2, 875 * time.Second, 906250 * time.Millisecond},
	}
	for _, c := range cases {
		for _, rnd := range []float64{0, 0.5, 0.999999} {
			at, ok := renewalTime(PCP, start, lt, c.n, time.Time{}, rnd)
			if !ok {
				t.Fatalf("n=%d rnd=%v: no time", c.n, rnd)
			}
			if d := at.Sub(start); d < c.lo || d > c.hi {
				t.Errorf("n=%d rnd=%v: %v outside [%v, %v]", c.n, rnd, d, c.lo, c.hi)
			}
		}
	}
}

func TestRenewalTimeHalfLife(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range []Method{NATPMP, UPnP} {
		for n, want := range []time.Duration{3600 * time.Second, 5400 * time.Second, 6300 * time.Second} {
			at, ok := renewalTime(m, start, 2*time.Hour, n, time.Time{}, 0.9)
			if !ok || at.Sub(start) != want {
				t.Errorf("%s n=%d: got %v %v, want %v (the random part is PCP's only)", m, n, at.Sub(start), ok, want)
			}
		}
	}
}

func TestRenewalTimeMinimumGap(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A 10 s PCP lease: first attempt at 5 s; the second would be at 7.5 s but
	// must wait 4 s after the first.
	first, _ := renewalTime(PCP, start, 10*time.Second, 0, time.Time{}, 0)
	second, ok := renewalTime(PCP, start, 10*time.Second, 1, first, 0)
	if !ok || second.Sub(first) != 4*time.Second {
		t.Fatalf("second attempt %v after the first (ok=%v), want 4s", second.Sub(first), ok)
	}
	// A third would be at 13 s: past the 10 s lease, so none fits.
	if at, ok := renewalTime(PCP, start, 10*time.Second, 2, second, 0); ok {
		t.Fatalf("third attempt at %v fits in a 10 s lease?", at.Sub(start))
	}
	// NAT-PMP's floor is 1 s.
	first, _ = renewalTime(NATPMP, start, 2*time.Second, 0, time.Time{}, 0)
	if _, ok := renewalTime(NATPMP, start, 2*time.Second, 1, first, 0); ok {
		t.Fatal("second NAT-PMP attempt fits in 2 s with a 1 s gap after the first at 1 s?")
	}
	if _, ok := renewalTime(NATPMP, start, 0, 0, time.Time{}, 0); ok {
		t.Fatal("a permanent lease has a renewal time")
	}
}

func TestRestoreBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for k, w := range want {
		if got := restoreBackoff(NATPMP, k); got != w {
			t.Errorf("NAT-PMP attempt %d: %v, want %v", k, got, w)
		}
	}
	if got := restoreBackoff(PCP, 0); got != 4*time.Second {
		t.Errorf("PCP first backoff %v, want 4s", got)
	}
	if got := restoreBackoff(UPnP, 30); got != maxBackoff {
		t.Errorf("backoff not capped: %v", got)
	}
}
