// Package udptest is a scripted UDP server for the NAT-PMP and PCP client
// tests: it records every request with its arrival time and lets the test
// decide, per request, what to answer, from where, and when.
package udptest

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Request is one datagram the responder received.
type Request struct {
	Data []byte
	From netip.AddrPort
	At   time.Time
	N    int // 1 for the first request the responder saw
}

// Handler decides what to do with a request. It runs on the responder's
// goroutine, one request at a time; it answers with r.Reply (or any other
// socket it owns).
type Handler func(r *Responder, req Request)

// Responder is a UDP server on a loopback address.
type Responder struct {
	conn    *net.UDPConn
	handler Handler

	mu   sync.Mutex
	reqs []Request

	done chan struct{}
}

// New listens on addr (e.g. "127.0.0.1:0" or "[::1]:0"), serves until the test
// ends, and fails the test if it cannot listen.
func New(t testing.TB, addr string, h Handler) *Responder {
	t.Helper()
	r, err := Start(addr, h)
	if err != nil {
		t.Fatalf("udptest: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// Start is New without a testing.TB, for examples and benchmarks that manage
// the lifetime themselves; call Close when done.
func Start(addr string, h Handler) (*Responder, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	r := &Responder{conn: c, handler: h, done: make(chan struct{})}
	go r.serve()
	return r, nil
}

// Addr is the responder's address.
func (r *Responder) Addr() netip.AddrPort {
	ap := r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Reply sends b to the requester from the responder's own socket.
func (r *Responder) Reply(req Request, b []byte) {
	r.conn.WriteToUDPAddrPort(b, req.From)
}

// SendTo sends b to any address from the responder's socket.
func (r *Responder) SendTo(to netip.AddrPort, b []byte) {
	r.conn.WriteToUDPAddrPort(b, to)
}

// Requests returns a copy of what arrived so far.
func (r *Responder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Close stops the responder and waits for its goroutine. It is idempotent.
func (r *Responder) Close() {
	r.conn.Close()
	<-r.done
}

func (r *Responder) serve() {
	defer close(r.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := Request{Data: append([]byte(nil), buf[:n]...), From: from, At: time.Now()}
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		req.N = len(r.reqs)
		r.mu.Unlock()
		if r.handler != nil {
			r.handler(r, req)
		}
	}
}
