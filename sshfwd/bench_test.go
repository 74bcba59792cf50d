package sshfwd_test

import (
	"io"
	"net"
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
// on loopback).
func BenchmarkThroughput(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		addr, total := sink(b)
		throughput(b, addr, total)
	})
	b.Run("remote-forward", func(b *testing.B) {
		addr, total := sink(b)
		f := newBenchForward(b, addr)
		throughput(b, f.Addr().String(), total)
	})
}

// BenchmarkConnection is one short connection through the tunnel: connect,
// send a byte, read it back, close.
func BenchmarkConnection(b *testing.B) {
	f := newBenchForward(b, echoServer(b))
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

// newBenchForward starts a fake server and a remote forward to target.
func newBenchForward(b *testing.B, target string) *sshfwd.Forward {
	b.Helper()
	_, cfg := setup(b, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(b), cfg, target)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}
