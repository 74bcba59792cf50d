package relay

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

// After 10,000 relayed connections, the process has as many goroutines and
// descriptors as before them.
func TestNoLeakAfter10000Conns(t *testing.T) {
	const total, workers = 10000, 32
	target := startTCPServer(t, "tcp", "127.0.0.1:0", echo)
	// One source opens every connection, faster than the relay ends the
	// closed ones: the per-source limit is not what this test is about.
	r := startRelay(t, &Relay{Target: target.addr(), MaxConns: 64, MaxConnsPerSource: -1})
	addr := tcpAddrOf(t, r)

	// One connection first, so lazily made things (the splice pipe pool,
	// the netpoller) exist in the baseline.
	c := dialTCP(t, addr)
	roundTrip(c, "warm", 2*time.Second)
	c.Close()
	eventually(t, 2*time.Second, "warm-up connection to end", func() bool { return r.Stats().ActiveConns == 0 })
	settle := func() (int, int) {
		runtime.GC()
		runtime.GC() // the splice pipe pool is a sync.Pool: two GCs empty it
		return runtime.NumGoroutine(), openFDs(t)
	}
	g0, fd0 := settle()

	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/workers+1; i++ {
				c, err := dialRaw(addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				got, err := roundTrip(c, "0123456789", 5*time.Second)
				c.Close()
				if got != "0123456789" {
					errs <- "echo: " + got + " " + errString(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e, r.Stats())
	}
	eventually(t, 5*time.Second, "connections to end", func() bool { return r.Stats().ActiveConns == 0 })
	if st := r.Stats(); st.Conns < total {
		t.Fatalf("only %d connections relayed", st.Conns)
	}
	var g, fd int
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, fd = settle()
		if g <= g0 && fd <= fd0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d connections: %d goroutines (was %d), %d descriptors (was %d)", total, g, g0, fd, fd0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
