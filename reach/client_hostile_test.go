package reach

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeChecker accepts TCP connections and lets serve do what it likes with
// each (after reading the 96-byte request).
func fakeChecker(t *testing.T, serve func(c net.Conn, req []byte)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(testTimeout))
			req := make([]byte, RequestSize)
			if _, err := readFull(c, req); err == nil {
				serve(c, req)
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestCheckHostileChecker(t *testing.T) {
	valid := func(req []byte, mutate func(a *answer)) []byte {
		r, err := parseRequest(req)
		if err != nil {
			t.Errorf("the client sent a bad request: %v", err)
		}
		a := answer{proto: r.proto, port: r.port, nonce: r.nonce, code: CodeOpen,
			observed: netip.MustParseAddrPort("127.0.0.1:1")}
		if mutate != nil {
			mutate(&a)
		}
		return appendAnswer(nil, a)
	}
	huge := make([]byte, 1<<20)
	for i := range huge {
		huge[i] = byte(i)
	}
	tests := []struct {
		name  string
		serve func(c net.Conn, req []byte)
		want  error
	}{
		{"silent", func(c net.Conn, _ []byte) { c.Read(make([]byte, 1)) }, ErrCheckerSlow},
		{"slow drip", func(c net.Conn, req []byte) {
			b := valid(req, nil)
			c.Write(b[:10])
			c.Read(make([]byte, 1))
		}, ErrCheckerSlow},
		{"closes at once", func(net.Conn, []byte) {}, ErrCheckerDown},
		{"huge", func(c net.Conn, _ []byte) { c.Write(huge) }, ErrBadAnswer},
		{"http", func(c net.Conn, _ []byte) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		}, ErrBadAnswer},
		{"wrong nonce", func(c net.Conn, req []byte) {
			c.Write(valid(req, func(a *answer) { a.nonce[0] ^= 1 }))
		}, ErrBadAnswer},
		{"wrong port", func(c net.Conn, req []byte) {
			c.Write(valid(req, func(a *answer) { a.port++ }))
		}, ErrBadAnswer},
		{"unknown verdict", func(c net.Conn, req []byte) {
			c.Write(valid(req, func(a *answer) { a.code = 99 }))
		}, ErrBadAnswer},
		{"limited", func(c net.Conn, req []byte) {
			c.Write(valid(req, func(a *answer) { a.code, a.retryAfter = CodeLimited, 7 }))
		}, ErrLimited},
		{"rejected", func(c net.Conn, req []byte) {
			c.Write(valid(req, func(a *answer) { a.code = CodeBad }))
		}, ErrRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeChecker(t, tc.serve)
			start := time.Now()
			res, err := (&Client{Timeout: 500 * time.Millisecond}).Check(context.Background(), addr, 4000, TCP)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !errors.Is(res.IPv4.Err, tc.want) || res.IPv4.Verdict != Unchecked {
				t.Fatalf("outcome %+v", res.IPv4)
			}
			if time.Since(start) > testTimeout/2 {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestCheckCheckerDown(t *testing.T) {
	port := freePort(t)
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()
	for _, tr := range []Proto{TCP, UDP} {
		_, err := (&Client{Transport: tr}).Check(testCtx(t), addr, 4000, TCP)
		if !errors.Is(err, ErrCheckerDown) {
			t.Errorf("over %v: %v, want ErrCheckerDown", tr, err)
		}
	}
}

// TestCheckHostileUDPChecker: over UDP, garbage from the checker's address
// is a bad answer, and silence is slowness bounded by the timeout.
func TestCheckHostileUDPChecker(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	garbage := true
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, src, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if garbage && n == RequestSize {
				pc.WriteTo(make([]byte, 4000), src)
			}
		}
	}()
	c := &Client{Transport: UDP, Timeout: 500 * time.Millisecond}
	if _, err := c.Check(context.Background(), pc.LocalAddr().String(), 4000, UDP); !errors.Is(err, ErrBadAnswer) {
		t.Errorf("garbage: %v", err)
	}
	pc.Close()
	<-done
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if _, err := c.Check(context.Background(), silent.LocalAddr().String(), 4000, UDP); !errors.Is(err, ErrCheckerSlow) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silence: %v", err)
	}
}
