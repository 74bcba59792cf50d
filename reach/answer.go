package reach

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// answerer holds a free local port for the length of a check and echoes the
// probes that carry one of its nonces. It echoes nothing else, so it is no
// echo service for strangers.
type answerer struct {
	mu     sync.Mutex
	nonces map[Nonce]bool // nonce -> seen
	ln     net.Listener
	pc     net.PacketConn
	wg     sync.WaitGroup
	conns  map[net.Conn]struct{}
	closed bool
}

// answerReadTimeout bounds how long the answerer waits for a connected
// prober to send its probe.
const answerReadTimeout = 2 * time.Second

func newAnswerer(ln net.Listener, pc net.PacketConn) *answerer {
	return &answerer{nonces: make(map[Nonce]bool), ln: ln, pc: pc, conns: make(map[net.Conn]struct{})}
}

func (a *answerer) expect(n Nonce) {
	a.mu.Lock()
	a.nonces[n] = false
	a.mu.Unlock()
}

// take marks n seen if it is one of ours.
func (a *answerer) take(n Nonce) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.nonces[n]; !ok {
		return false
	}
	a.nonces[n] = true
	return true
}

func (a *answerer) seen(n Nonce) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nonces[n]
}

func (a *answerer) start() {
	a.wg.Add(1)
	if a.ln != nil {
		go a.acceptProbes()
	} else {
		go a.readProbes()
	}
}

func (a *answerer) acceptProbes() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = struct{}{}
		a.wg.Add(1)
		a.mu.Unlock()
		go a.answerConn(c)
	}
}

func (a *answerer) answerConn(c net.Conn) {
	defer a.wg.Done()
	defer func() {
		c.Close()
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(answerReadTimeout))
	buf := make([]byte, ProbeSize)
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	p, err := parseProbe(buf, typeProbe)
	if err != nil || !a.take(p.nonce) {
		return
	}
	c.Write(appendProbe(nil, p, typeEcho))
}

func (a *answerer) readProbes() {
	defer a.wg.Done()
	buf := make([]byte, ProbeSize+1)
	for {
		n, src, err := a.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p, err := parseProbe(buf[:n], typeProbe)
		if err != nil || !a.take(p.nonce) {
			continue
		}
		a.pc.WriteTo(appendProbe(nil, p, typeEcho), src)
	}
}

// close stops answering and waits for its goroutines.
func (a *answerer) close() {
	a.mu.Lock()
	a.closed = true
	if a.ln != nil {
		a.ln.Close()
	}
	if a.pc != nil {
		a.pc.Close()
	}
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}
