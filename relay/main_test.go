package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as a helper program: when RELAY_TEST_HELPER is set, the
// test binary runs a relay instead of the tests. The socket-activation,
// setcap and splice tests start it that way, so they do not depend on the CLI.
func TestMain(m *testing.M) {
	if mode := os.Getenv("RELAY_TEST_HELPER"); mode != "" {
		os.Exit(helperMain(mode))
	}
	noRaceExitSleep()
	goleak.VerifyTestMain(m)
}

// raceExitSleep is GORACE's atexit_sleep_ms for the helpers the tests start.
// A -race binary otherwise sleeps a second before it exits (to give
// goroutines still running then a chance to race), and the tests wait for
// each helper's exit: about five seconds of every run went to that sleep.
// The race detector stays on in the helpers.
const raceExitSleep = "atexit_sleep_ms=0"

// noRaceExitSleep puts raceExitSleep in GORACE for the processes the tests
// start (this process read GORACE at its own start), keeping any other
// option, or an atexit_sleep_ms, the caller set.
func noRaceExitSleep() {
	g := os.Getenv("GORACE")
	if strings.Contains(g, "atexit_sleep_ms=") {
		return
	}
	os.Setenv("GORACE", strings.TrimSpace(g+" "+raceExitSleep))
}

// Exit codes of the helper.
const (
	helperOK     = 0
	helperFailed = 1
	helperEACCES = 3
)

// helperMain runs a relay to $RELAY_TEST_TARGET:
//   - "activated": on the sockets from SystemdListeners;
//   - "listen": on $RELAY_TEST_LISTEN (network $RELAY_TEST_NETWORK, default tcp).
//
// It prints "ready <addrs>" once serving and runs until SIGTERM or SIGINT.
func helperMain(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	r := &Relay{
		Network:         os.Getenv("RELAY_TEST_NETWORK"),
		Target:          os.Getenv("RELAY_TEST_TARGET"),
		ShutdownTimeout: -1,
	}
	switch mode {
	case "activated":
		ls, pcs, err := SystemdListeners()
		if err != nil {
			fmt.Println("error:", err)
			return helperFailed
		}
		if len(ls)+len(pcs) == 0 {
			fmt.Println("error: no sockets passed")
			return helperFailed
		}
		if os.Getenv("LISTEN_FDS") != "" {
			fmt.Println("error: LISTEN_FDS still set")
			return helperFailed
		}
		r.Listeners, r.PacketConns = ls, pcs
	case "listen":
		r.Listen = os.Getenv("RELAY_TEST_LISTEN")
	default:
		fmt.Println("error: unknown helper mode", mode)
		return helperFailed
	}
	if err := r.Start(ctx); err != nil {
		fmt.Println("error:", err)
		if errors.Is(err, syscall.EACCES) {
			return helperEACCES
		}
		return helperFailed
	}
	fmt.Print("ready")
	for _, a := range r.Addrs() {
		fmt.Print(" ", a.Network(), ":", a.String())
	}
	fmt.Printf(" pid=%d uid=%d\n", os.Getpid(), os.Getuid())
	if err := r.Wait(); err != nil {
		fmt.Println("error:", err)
		return helperFailed
	}
	return helperOK
}

// ---- shared test helpers ----

// startRelay starts r (on 127.0.0.1:0 unless told otherwise) and stops it at
// the end of the test.
func startRelay(t *testing.T, r *Relay) *Relay {
	t.Helper()
	if r.Listen == "" && len(r.Listeners) == 0 && len(r.PacketConns) == 0 {
		r.Listen = "127.0.0.1:0"
	}
	if r.ShutdownTimeout == 0 {
		r.ShutdownTimeout = 100 * time.Millisecond // keep cleanups short
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func tcpAddrOf(t *testing.T, r *Relay) string {
	t.Helper()
	for _, a := range r.Addrs() {
		if a.Network() == "tcp" {
			return a.String()
		}
	}
	t.Fatal("relay has no TCP address")
	return ""
}

func udpAddrOf(t *testing.T, r *Relay) string {
	t.Helper()
	for _, a := range r.Addrs() {
		if a.Network() == "udp" {
			return a.String()
		}
	}
	t.Fatal("relay has no UDP address")
	return ""
}

// tcpServer accepts on loopback and runs handle for each connection in its
// own goroutine; everything stops at the end of the test.
type tcpServer struct {
	ln       net.Listener
	accepted atomic.Int64
}

func startTCPServer(t *testing.T, network, addr string, handle func(*net.TCPConn)) *tcpServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{ln: ln}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		live   = map[net.Conn]struct{}{}
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				continue
			}
			live[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c.(*net.TCPConn))
				c.Close()
				mu.Lock()
				delete(live, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range live {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *tcpServer) addr() string { return s.ln.Addr().String() }

// echo copies back what it reads and passes the EOF on.
func echo(c *net.TCPConn) {
	_, _ = c.ReadFrom(c)
	c.CloseWrite()
	// Wait for the peer to close, so the close does not race the data.
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(b[:])
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
