package pcp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestScheduleFormula(t *testing.T) {
	// RAND drawn in this order: RT1, RT2, RT3, RT4 (> MRT: redrawn), RT5 ...
	rands := []float64{0.1, -0.1, 0.05, 0, -0.1, 0.1, 0.1, 0, 0, -0.05}
	i := 0
	s := &schedule{irt: 3 * time.Second, mrt: 20 * time.Second, rand: func() float64 { r := rands[i]; i++; return r }}
	want := []time.Duration{
		3300 * time.Millisecond,     // (1+0.1)·3
		6270 * time.Millisecond,     // (2-0.1)·3.3
		12853500 * time.Microsecond, // (2+0.05)·6.27
		18 * time.Second,            // (2+0)·12.8535 = 25.707 > 20, so (1-0.1)·20
		22 * time.Second,            // (2+0.1)·18 = 37.8 > 20, so (1+0.1)·20
		20 * time.Second,            // (2+0)·22 > 20, so (1+0)·20
	}
	for n, w := range want {
		got, ok := s.next()
		if !ok || (got-w).Abs() > time.Microsecond {
			t.Errorf("RT%d = %v, want %v", n+1, got, w)
		}
	}
}

func TestScheduleDefaultJitter(t *testing.T) {
	for range 1000 {
		s := &schedule{irt: time.Second, mrt: 1024 * time.Second}
		rt1, _ := s.next()
		rt2, _ := s.next()
		if rt1 < 900*time.Millisecond || rt1 > 1100*time.Millisecond {
			t.Fatalf("RT1 = %v, outside (1±0.1)·IRT", rt1)
		}
		if rt2 < rt1*19/10-time.Microsecond || rt2 > rt1*21/10+time.Microsecond {
			t.Fatalf("RT2 = %v after RT1 = %v, outside (2±0.1)·RT1", rt2, rt1)
		}
	}
}

// Against a silent server with no jitter: waits 20, 40, 80, then MRT 100 ms;
// a 390 ms budget allows transmissions at 0, 20, 60, 140, 240 and 340 ms.
func TestRetransmissionOnTheWire(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{
		Server:         r.Addr(),
		InitialTimeout: 20 * time.Millisecond,
		MaxTimeout:     100 * time.Millisecond,
		MaxDuration:    390 * time.Millisecond,
		rand:           func() float64 { return 0 },
	}
	start := time.Now()
	_, err := c.Announce(context.Background()) // no deadline: MaxDuration is the budget
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout from the budget", err)
	}
	if elapsed < 388*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("gave up after %v, want 390ms", elapsed)
	}
	// Timers never fire early, so each gap is at least its schedule value;
	// on a loaded machine gaps stretch and fewer transmissions fit the
	// budget (TestScheduleFormula checks the values exactly).
	requestsAtLeast(r, 6)
	reqs := r.Requests()
	wantGaps := []time.Duration{20, 40, 80, 100, 100}
	if len(reqs) < 4 || len(reqs) > len(wantGaps)+1 {
		t.Fatalf("%d transmissions, want 6 (at least 4 on a loaded machine)", len(reqs))
	}
	for i := range len(reqs) - 1 {
		w := wantGaps[i] * time.Millisecond
		gap := reqs[i+1].At.Sub(reqs[i].At)
		if gap < w-2*time.Millisecond || gap > 2*w+150*time.Millisecond {
			t.Errorf("gap %d = %v, want about %v", i+1, gap, w)
		}
	}
	for _, q := range reqs {
		if string(q.Data) != string(reqs[0].Data) {
			t.Error("a retransmission differs from the first transmission")
		}
	}
}

// A context deadline replaces MaxDuration as the budget.
func TestContextDeadlineIsTheBudget(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{Server: r.Addr(), InitialTimeout: 20 * time.Millisecond, MaxDuration: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Announce(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want DeadlineExceeded and ErrTimeout", err)
	}
	if elapsed < 148*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("returned after %v, want at the 150ms deadline (not MaxDuration's 10ms)", elapsed)
	}
	if n := requestsAtLeast(r, 3); n < 3 {
		t.Errorf("%d transmissions in 150ms with IRT 20ms", n)
	}
}

func TestAnswerToALaterTransmission(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		if req.N == 3 {
			fakeServer(r, req)
		}
	})
	var logs bytes.Buffer
	c := newClient(r)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.Map(t.Context(), MapRequest{Protocol: UDP, InternalPort: 5353, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests()); n != 3 {
		t.Errorf("%d transmissions, want 3", n)
	}
	if n := strings.Count(logs.String(), "retransmitting"); n != 2 {
		t.Errorf("%d retransmissions logged, want 2:\n%s", n, logs.String())
	}
}
