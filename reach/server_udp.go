package reach

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// udpReadBuf is the receive buffer of a UDP socket: larger than any message
// the server accepts, so that an oversized datagram is seen as such rather
// than truncated into something valid.
const udpReadBuf = 2048

// readLoop serves the UDP socket s.udp[i] until it closes.
func (s *Server) readLoop(i int) {
	defer s.wg.Done()
	u := s.udp[i]
	buf := make([]byte, udpReadBuf)
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			continue
		}
		s.stats.udpIn.Add(uint64(n))
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		pkt := buf[:n]
		switch {
		case isSTUN(pkt):
			s.serveSTUN(i, pkt, src)
		case n > 0 && pkt[0] == magic[0]:
			s.serveUDPRequest(u, pkt, src)
		}
	}
}

// serveUDPRequest handles one checker request that came as a datagram. Over
// its rate a source gets silence, not LIMITED: its address may be spoofed.
// Every answer is AnswerSize bytes, sent only for a datagram at least that
// large, and a probe adds ProbeSize to a request of RequestSize, which is
// more than both.
//
// A client repeats its datagram until the answer comes, and a probe can take
// longer than the client's interval; a repeat that arrives while its probe
// is in flight is dropped, so that it costs neither a token nor a probe.
func (s *Server) serveUDPRequest(u *udpSocket, pkt []byte, src netip.AddrPort) {
	s.stats.requests.Add(1)
	if len(pkt) == RequestSize && s.inFlight(flightKey{src, Nonce(pkt[12:28])}) {
		return
	}
	if ok, _ := s.lim.allow(src.Addr(), time.Now()); !ok {
		s.stats.limited.Add(1)
		return
	}
	a := answer{observed: src}
	r, err := parseRequest(pkt)
	if err != nil {
		s.stats.bad.Add(1)
		if len(pkt) >= AnswerSize {
			a.code = CodeBad
			s.fillFrom(&a, pkt)
			s.sendUDP(u, appendAnswer(nil, a), src)
		}
		return
	}
	a.proto, a.port, a.nonce = r.proto, r.port, r.nonce
	select {
	case s.probes <- struct{}{}:
	default:
		s.stats.busy.Add(1)
		a.code, a.retryAfter = CodeBusy, 1
		s.sendUDP(u, appendAnswer(nil, a), src)
		return
	}
	k := flightKey{src, r.nonce}
	s.mu.Lock()
	if s.flights == nil {
		s.flights = make(map[flightKey]struct{})
	}
	s.flights[k] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.probeForDatagram(u, src, r, a)
}

// flightKey names a UDP request whose probe is under way.
type flightKey struct {
	src   netip.AddrPort
	nonce Nonce
}

func (s *Server) inFlight(k flightKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flights[k]
	return ok
}

// probeForDatagram probes for a UDP request and sends the answer.
func (s *Server) probeForDatagram(u *udpSocket, src netip.AddrPort, r request, a answer) {
	defer s.wg.Done()
	defer s.release()
	defer func() {
		s.mu.Lock()
		delete(s.flights, flightKey{src, r.nonce})
		s.mu.Unlock()
	}()
	s.stats.udpOut.Add(ProbeSize)
	a.code = s.probe(u.local, src, r)
	s.sendUDP(u, appendAnswer(nil, a), src)
}

func (s *Server) sendUDP(u *udpSocket, b []byte, dst netip.AddrPort) {
	if _, err := u.conn.WriteToUDPAddrPort(b, dst); err == nil {
		s.stats.udpOut.Add(uint64(len(b)))
	}
}
