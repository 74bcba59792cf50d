package sshfwd_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// benchChunk is what one iteration of a throughput benchmark sends.
const benchChunk = 1 << 20

// sink is a target that counts what it reads and reports the total when the
// sender half-closes.
func sink(b *testing.B) (addr string, total <-chan int64) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	out := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		out <- n
	}()
	return ln.Addr().String(), out
}

// throughput sends b.N chunks to addr and waits until the sink has them all.
func throughput(b *testing.B, addr string, total <-chan int64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case n := <-total:
		if n != int64(b.N)*benchChunk {
			b.Fatalf("sink got %d bytes, sent %d", n, int64(b.N)*benchChunk)
		}
	case <-time.After(time.Minute):
		b.Fatal("sink never finished")
	}
}

// BenchmarkThroughput compares one TCP stream sent directly with the same
// stream through a remote forward (client and fake server both x/crypto/ssh,
// on loopback), and through a remote forward whose SSH connection has a
// round trip of benchRTT: there the channel window (2 MiB in x/crypto/ssh,
// fixed, as OpenSSH's CHAN_TCP_WINDOW_DEFAULT) bounds a stream at one
// window per round trip, about 105 MB/s.
func BenchmarkThroughput(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		addr, total := sink(b)
		throughput(b, addr, total)
	})
	b.Run("remote-forward", func(b *testing.B) {
		addr, total := sink(b)
		f := newBenchForward(b, addr, 0)
		throughput(b, f.Addr().String(), total)
	})
	b.Run("remote-forward-rtt20ms", func(b *testing.B) {
		addr, total := sink(b)
		f := newBenchForward(b, addr, benchRTT)
		throughput(b, f.Addr().String(), total)
	})
}

// benchRTT is the round trip the delayed benchmark gives the SSH
// connection: a server across a country.
const benchRTT = 20 * time.Millisecond

// delayConn delays everything written on a connection by rtt, so that each
// exchange over it takes a round trip of at least rtt (the other direction
// is not delayed).
type delayConn struct {
	net.Conn
	rtt  time.Duration
	q    chan delayed
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// delayed is a write waiting for its time.
type delayed struct {
	data []byte
	due  time.Time
}

func newDelayConn(c net.Conn, rtt time.Duration) *delayConn {
	d := &delayConn{Conn: c, rtt: rtt, q: make(chan delayed, 1<<16), done: make(chan struct{})}
	d.wg.Add(1)
	go d.deliver()
	return d
}

func (d *delayConn) Write(p []byte) (int, error) {
	select {
	case d.q <- delayed{data: append([]byte(nil), p...), due: time.Now().Add(d.rtt)}:
		return len(p), nil
	case <-d.done:
		return 0, net.ErrClosed
	}
}

// deliver writes each queued write when it is due, in order.
func (d *delayConn) deliver() {
	defer d.wg.Done()
	for {
		select {
		case w := <-d.q:
			t := time.NewTimer(time.Until(w.due))
			select {
			case <-t.C:
			case <-d.done:
				t.Stop()
				return
			}
			if _, err := d.Conn.Write(w.data); err != nil {
				return
			}
		case <-d.done:
			return
		}
	}
}

func (d *delayConn) Close() error {
	d.once.Do(func() { close(d.done) })
	err := d.Conn.Close()
	d.wg.Wait()
	return err
}

// BenchmarkConnection is one short connection through the tunnel: connect,
// send a byte, read it back, close.
func BenchmarkConnection(b *testing.B) {
	f := newBenchForward(b, echoServer(b), 0)
	buf := make([]byte, 1)
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", f.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(buf)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// newBenchForward starts a fake server and a remote forward to target,
// over an SSH connection with a round trip of at least rtt.
func newBenchForward(b *testing.B, target string, rtt time.Duration) *sshfwd.Forward {
	b.Helper()
	_, cfg := setup(b, gatewaytest.SSHConfig{})
	if rtt > 0 {
		srvAddr := cfg.Server.Addr()
		var dialer net.Dialer
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil || addr != srvAddr {
				return c, err // targets are not delayed
			}
			return newDelayConn(c, rtt), nil
		}
	}
	f, err := sshfwd.Remote(testContext(b), cfg, target)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}
