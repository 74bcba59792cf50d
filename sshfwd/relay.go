package sshfwd

import (
	"io"
	"net"
	"sync"
)

// halfCloser is a stream that can say "no more data" while still reading:
// *net.TCPConn and ssh.Channel both can.
type halfCloser interface {
	CloseWrite() error
}

// relayBuffer is the copy buffer per direction: the SSH channel's maximum
// packet, so that one read fills one packet.
const relayBuffer = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, relayBuffer); return &b }}

// pipe copies both ways between a and b until both directions end; when one
// direction ends its writer is half-closed, so the other can finish (a
// client that sends a request and then shuts down its write side still gets
// the answer). Both are closed at the end.
func pipe(a, b io.ReadWriteCloser) {
	var wg sync.WaitGroup
	wg.Add(2)
	go copyHalf(&wg, a, b)
	go copyHalf(&wg, b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// copyHalf copies src to dst, then half-closes dst (or closes both when dst
// cannot half-close, so the other direction ends too).
func copyHalf(wg *sync.WaitGroup, dst, src io.ReadWriteCloser) {
	defer wg.Done()
	bp := bufPool.Get().(*[]byte)
	_, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, *bp)
	bufPool.Put(bp)
	if hc, ok := dst.(halfCloser); ok && err == nil {
		hc.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}

// onlyWriter and onlyReader hide ReadFrom/WriteTo so that CopyBuffer uses
// the pooled buffer rather than allocating its own.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// conns tracks the relayed connections so Close can end them.
type conns struct {
	mu     sync.Mutex
	m      map[io.Closer]struct{}
	closed bool
}

// add registers c; false (and c closed) after closeAll.
func (s *conns) add(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	if s.m == nil {
		s.m = make(map[io.Closer]struct{})
	}
	s.m[c] = struct{}{}
	return true
}

func (s *conns) remove(c io.Closer) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

func (s *conns) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.m {
		c.Close()
	}
	s.m = nil
}

var _ halfCloser = (*net.TCPConn)(nil)
