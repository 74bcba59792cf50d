package epoch

import (
	"testing"
	"time"
)

type obs struct {
	epoch uint32
	after time.Duration // client time since the previous observation
	lost  bool
}

// check feeds seq through a Watch with rule and compares each verdict.
func check(t *testing.T, rule Rule, seq []obs) {
	t.Helper()
	var w Watch
	now := time.Unix(1_000_000, 0)
	for i, o := range seq {
		now = now.Add(o.after)
		if got := w.Observe(rule, o.epoch, now); got != o.lost {
			t.Errorf("observation %d (epoch %d after %v): lost = %v, want %v", i, o.epoch, o.after, got, o.lost)
		}
	}
}

// RFC 6886 §3.6.
func TestNATPMP(t *testing.T) {
	for _, tt := range []struct {
		name string
		seq  []obs
	}{
		{"first value accepted", []obs{{5, 0, false}}},
		{"steady", []obs{{100, 0, false}, {110, 10 * time.Second, false}, {200, 90 * time.Second, false}}},
		{"gateway slightly slow: 7/8 rule", []obs{{100, 0, false}, {188, 100 * time.Second, false}}},
		// estimate 100 + 87.5 = 187.5; 185.4 would be within 2 s, 185 is not
		{"just over 2 s below the estimate", []obs{{100, 0, false}, {185, 100 * time.Second, true}}},
		{"exactly 2 s below", []obs{{100, 0, false}, {186, 100*time.Second + 571*time.Millisecond, false}}},
		{"went backwards: reboot", []obs{{5000, 0, false}, {3, time.Second, true}}},
		{"same value within 2 s", []obs{{100, 0, false}, {100, 2 * time.Second, false}}},
		{"stuck epoch over a long time", []obs{{100, 0, false}, {100, time.Minute, true}}},
		{"after a reset the new value is the base", []obs{{5000, 0, false}, {3, time.Second, true}, {13, 10 * time.Second, false}}},
		{"gateway faster than us is fine", []obs{{100, 0, false}, {1000, time.Second, false}}},
	} {
		t.Run(tt.name, func(t *testing.T) { check(t, NATPMP, tt.seq) })
	}
}

// RFC 6887 §8.5.
func TestPCP(t *testing.T) {
	for _, tt := range []struct {
		name string
		seq  []obs
	}{
		{"first is valid", []obs{{12345, 0, false}}},
		{"in step", []obs{{100, 0, false}, {160, time.Minute, false}}},
		{"one second back is tolerated", []obs{{100, 0, false}, {99, 0, false}}},
		{"two seconds back is a reset", []obs{{100, 0, false}, {98, 0, true}}},
		{"restart: small epoch after a while", []obs{{100, 0, false}, {5, 10 * time.Second, true}}},
		// client_delta = 100, server_delta = 90: 90+2 < 100-6 is true
		{"server too slow", []obs{{100, 0, false}, {190, 100 * time.Second, true}}},
		// client_delta = 100, server_delta = 92: 92+2 < 94 is false
		{"server slow within 1/16 + 2", []obs{{100, 0, false}, {192, 100 * time.Second, false}}},
		// client_delta = 100, server_delta = 109: 102 < 109-6 = 103 is true
		{"server too fast", []obs{{100, 0, false}, {209, 100 * time.Second, true}}},
		{"server fast within bounds", []obs{{100, 0, false}, {208, 100 * time.Second, false}}},
		{"stuck epoch", []obs{{100, 0, false}, {100, 10 * time.Second, true}}},
		{"times recorded even when invalid", []obs{{100, 0, false}, {5, 10 * time.Second, true}, {15, 10 * time.Second, false}}},
		{"sub-second client time counts as 0", []obs{{100, 0, false}, {102, 900 * time.Millisecond, false}}},
	} {
		t.Run(tt.name, func(t *testing.T) { check(t, PCP, tt.seq) })
	}
}

// A loss stays pending until it is taken, once, even when later values are
// in step again.
func TestTakeReset(t *testing.T) {
	var w Watch
	now := time.Unix(1_000_000, 0)
	w.Observe(PCP, 5000, now)
	if w.TakeReset() {
		t.Fatal("reset reported before any loss")
	}
	w.Observe(PCP, 3, now.Add(time.Second))
	w.Observe(PCP, 13, now.Add(11*time.Second))
	if !w.TakeReset() {
		t.Fatal("the loss seen two observations ago was not reported")
	}
	if w.TakeReset() {
		t.Fatal("the same loss reported twice")
	}
}
