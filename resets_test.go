package upnpmap

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// drain counts a mapping's events by kind until stop closes.
func drain(m *Mapping, stop <-chan struct{}, out chan<- map[EventKind]int) {
	n := make(map[EventKind]int)
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				out <- n
				return
			}
			n[ev.Kind]++
		case <-stop:
			out <- n
			return
		}
	}
}

// TestGatewayBackwardsEpochNoStorm: a router whose epoch goes backwards on
// every answer (each answer reads as a reboot) once drew 5,300 requests per
// second from two NAT-PMP mappings, each re-map signalling the other. The
// resets are now coalesced and backed off (rounds at 0, 1, 3 s …): a few
// seconds of it cost a handful of requests, the mappings stay on the router,
// and the router is reported Unstable once per mapping.
func TestGatewayBackwardsEpochNoStorm(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{EpochBackwards: true}, NATPMP)
	a := mustMap(t, c, Request{InternalPort: 5500, Lifetime: time.Hour})
	b := mustMap(t, c, Request{InternalPort: 5501, Lifetime: time.Hour})
	stop := make(chan struct{})
	counts := make(chan map[EventKind]int, 2)
	go drain(a, stop, counts)
	go drain(b, stop, counts)
	// Bounded real time, and count: the third round of the streak is due
	// 3 s after the first, the fourth at 7 s.
	time.Sleep(5 * time.Second)
	close(stop)
	ea, eb := <-counts, <-counts
	n := gw.Requests(gatewaytest.NATPMP)
	t.Logf("%d NAT-PMP requests in 5 s; events %v and %v", n, ea, eb)
	// The probe (1), two Maps (3), rounds at 0, 1, 3 s of one re-map each
	// (2 requests: external address, MAP): 10. Some slack for a round that
	// the start-up's timing splits in two.
	if n > 16 {
		t.Fatalf("%d NAT-PMP requests in 5 s: the resets were not coalesced", n)
	}
	if ea[Unstable]+eb[Unstable] != 2 {
		t.Fatalf("Unstable events %d and %d, want one per mapping", ea[Unstable], eb[Unstable])
	}
	for _, m := range []*Mapping{a, b} {
		if _, ok := entry(gw, "TCP", m.External().Port()); !ok {
			t.Fatalf("mapping %v gone from the router: %+v", m.External(), gw.Mappings())
		}
	}
}

// TestResetGateBackoff: one reset makes one round at once; resets that keep
// coming join the planned round or start the next one no sooner than the
// backoff (1, 2, 4 s …, capped at the renewal interval); the third round
// of a streak says Unstable, once; a quiet spell starts a new streak.
func TestResetGateBackoff(t *testing.T) {
	var r resetGate
	t0 := time.Unix(1_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for i, step := range []struct {
		now      time.Time
		at       time.Time
		newRound bool
		unstable bool
	}{
		{ms(0), ms(0), true, false},         // a reset: a round now
		{ms(10), ms(1000), true, false},     // seen again by the round: next round after 1 s
		{ms(20), ms(1000), false, false},    // joins the planned round
		{ms(1010), ms(3000), true, true},    // after 2 s more; third round: unstable
		{ms(3010), ms(6000), true, false},   // 4 s, capped at the 3 s renewal interval
		{ms(6010), ms(9000), true, false},   // 3 s again
		{ms(30000), ms(30000), true, false}, // quiet for long: a new streak, at once
	} {
		at, newRound, unstable := r.admit(step.now, 3*time.Second)
		if !at.Equal(step.at) || newRound != step.newRound || unstable != step.unstable {
			t.Fatalf("step %d at +%v: round at +%v new %v unstable %v; want +%v %v %v", i, step.now.Sub(t0),
				at.Sub(t0), newRound, unstable, step.at.Sub(t0), step.newRound, step.unstable)
		}
	}
}
