package relay

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Tasks run one after another reuse one goroutine, and a quiet tick of the
// watchdog ends it.
func TestWorkersReusedThenRetired(t *testing.T) {
	s := newServer(config{})
	s.cutCtx, s.cut = context.WithCancel(context.Background())
	defer func() { s.cut(); s.wg.Wait() }()
	g0 := runtime.NumGoroutine()
	ran := make(chan int)
	for i := range 100 {
		s.spawn(func() { ran <- i })
		if got := <-ran; got != i {
			t.Fatalf("task %d ran as %d", i, got)
		}
		eventually(t, 5*time.Second, "the worker to wait again", func() bool { return s.idleWorkers.Load() == 1 })
		if g := runtime.NumGoroutine(); g > g0+1 {
			t.Fatalf("after %d tasks in a row: %d goroutines, want at most %d", i+1, g, g0+1)
		}
	}
	s.retireWorkers() // tasks since the last look: keep it
	if s.idleWorkers.Load() != 1 {
		t.Fatal("worker retired while the relay was busy")
	}
	s.retireWorkers() // a quiet tick
	eventually(t, 5*time.Second, "the idle worker to exit", func() bool {
		return s.idleWorkers.Load() == 0 && runtime.NumGoroutine() <= g0
	})
}
