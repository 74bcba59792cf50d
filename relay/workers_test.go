package relay

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Tasks run one after another mostly reuse a waiting goroutine, and a quiet
// tick of the watchdog ends the ones that wait.
func TestWorkersReusedThenRetired(t *testing.T) {
	const tasks = 100
	s := newServer(config{})
	s.cutCtx, s.cut = context.WithCancel(context.Background())
	defer func() { s.cut(); s.wg.Wait() }()
	g0 := runtime.NumGoroutine()
	ran := make(chan int)
	for i := range tasks {
		s.spawn(func() { ran <- i })
		if got := <-ran; got != i {
			t.Fatalf("task %d ran as %d", i, got)
		}
		eventually(t, 5*time.Second, "a worker to wait again", func() bool { return s.idleWorkers.Load() >= 1 })
	}
	// A task spawned just before its predecessor's goroutine reaches its
	// wait gets a new goroutine, so a few may start; without reuse every
	// task would.
	if n := s.workersStarted.Load(); n > tasks/4 {
		t.Fatalf("%d goroutines started for %d tasks in a row", n, tasks)
	}
	s.retireWorkers() // tasks since the last look: keep them
	if s.idleWorkers.Load() == 0 {
		t.Fatal("workers retired while the relay was busy")
	}
	// Quiet ticks, as the watchdog would make them.
	eventually(t, 5*time.Second, "the idle workers to exit", func() bool {
		s.retireWorkers()
		return s.idleWorkers.Load() == 0 && runtime.NumGoroutine() <= g0
	})
}
