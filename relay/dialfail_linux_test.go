package relay

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// A refused dial resets the client at once; so does a dial that times out.
func TestTCPDialFailure(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		r := startRelay(t, &Relay{Target: refusedAddr(t)})
		start := time.Now()
		if err := expectReset(tcpAddrOf(t, r), 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("reset took %v", d)
		}
		if st := r.Stats(); st.DialErrors != 1 || st.ActiveConns != 0 {
			t.Fatalf("stats %+v, want DialErrors 1 and nothing active", st)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// A listener that never accepts, with its backlog full: further
		// SYNs are dropped and a dial hangs.
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Listen(fd, 0); err != nil {
			t.Fatal(err)
		}
		sa, _ := syscall.Getsockname(fd)
		blackhole := net.JoinHostPort("127.0.0.1", itoa(sa.(*syscall.SockaddrInet4).Port))
		for i := 0; ; i++ {
			// A generous timeout: a slow machine must not pass for a full backlog.
			c, err := net.DialTimeout("tcp", blackhole, time.Second)
			if err != nil {
				break
			}
			defer c.Close()
			if i > 16 {
				t.Fatal("backlog never filled")
			}
		}
		const dialTimeout = 150 * time.Millisecond
		r := startRelay(t, &Relay{Target: blackhole, DialTimeout: dialTimeout})
		start := time.Now()
		if err := expectReset(tcpAddrOf(t, r), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < dialTimeout || d > dialTimeout+time.Second {
			t.Fatalf("reset after %v, want about %v", d, dialTimeout)
		}
	})
}

// expectReset connects to addr and expects the connection to be reset, during
// the connect (the relay may be that fast on loopback) or on the first read.
func expectReset(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("read %d, %v; want a reset", n, err)
	}
	return nil
}

// refusedAddr is a loopback port that refuses connections: a socket bound to
// it but not listening holds the port so nothing else takes it.
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	return net.JoinHostPort("127.0.0.1", itoa(sa.(*syscall.SockaddrInet4).Port))
}
