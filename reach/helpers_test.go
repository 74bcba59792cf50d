package reach

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests; nothing should come near it.
const testTimeout = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startServer starts s on loopback and closes it at the end of the test.
func startServer(t testing.TB, s *Server) *Server {
	t.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freePort returns a port that was free for both TCP and UDP on every address
// a moment ago.
func freePort(t testing.TB) uint16 {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		ln.Close()
		if err == nil {
			pc.Close()
			return uint16(p)
		}
	}
	t.Fatal("no free port")
	return 0
}

// rawAsk sends one request over TCP from local (may be zero) and returns the
// raw answer bytes.
func rawAsk(t testing.TB, server netip.AddrPort, local netip.Addr, req []byte) []byte {
	t.Helper()
	d := net.Dialer{Timeout: testTimeout}
	if local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
	c, err := d.Dial("tcp", server.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, AnswerSize)
	n, _ := readFull(c, buf)
	return buf[:n]
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func mustAnswer(t testing.TB, b []byte) answer {
	t.Helper()
	a, err := parseAnswer(b)
	if err != nil {
		t.Fatalf("answer %x: %v", b, err)
	}
	return a
}

// waitFor polls cond until it holds or the test's deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
