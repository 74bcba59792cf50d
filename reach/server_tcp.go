package reach

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

// acceptLoop takes TCP requests until the listener closes.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and such: back off briefly, do not spin.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(acceptBackoff):
			}
			continue
		}
		select {
		case s.conSem <- struct{}{}:
		default:
			c.Close() // over MaxConns
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-s.conSem
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// acceptBackoff is the pause after a failed Accept that is not a close.
const acceptBackoff = 50 * time.Millisecond

// serveConn reads one request from c, probes, answers and closes.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		<-s.conSem
	}()
	c.SetDeadline(time.Now().Add(orDur(s.ReadTimeout, defaultReadTimeout)))
	buf := make([]byte, RequestSize)
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	s.stats.requests.Add(1)
	observed := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	observed = netip.AddrPortFrom(observed.Addr().Unmap(), observed.Port())
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	a := s.handle(buf, local, observed)
	// The probe may take ProbeTimeout plus echoWait; give the answer its own
	// short window after that.
	c.SetDeadline(time.Now().Add(answerWriteTimeout))
	c.Write(appendAnswer(make([]byte, 0, AnswerSize), a))
}

// answerWriteTimeout bounds writing the 48-byte answer.
const answerWriteTimeout = 2 * time.Second

// handle turns one request into its answer, probing if allowed. It is shared
// by TCP and (after its own checks) UDP.
func (s *Server) handle(b []byte, local, observed netip.AddrPort) answer {
	a := answer{observed: observed}
	if code, retry := s.admit(observed.Addr()); code != 0 {
		a.code, a.retryAfter = code, retry
		s.fillFrom(&a, b)
		return a
	}
	defer s.release()
	r, err := parseRequest(b)
	if err != nil {
		s.stats.bad.Add(1)
		a.code = CodeBad
		s.fillFrom(&a, b)
		s.log.Debug("reach: bad request", "from", observed, "err", err)
		return a
	}
	a.proto, a.port, a.nonce = r.proto, r.port, r.nonce
	a.code = s.probe(local, observed, r)
	s.log.Debug("reach: probed", "from", observed, "proto", r.proto, "port", r.port, "verdict", a.code)
	return a
}

// fillFrom copies what can be read of a request that is not probed into its
// answer, so that the client can match it.
func (s *Server) fillFrom(a *answer, b []byte) {
	if len(b) >= 28 {
		a.proto = Proto(b[6])
		a.port = uint16(b[8])<<8 | uint16(b[9])
		copy(a.nonce[:], b[12:28])
	}
}
