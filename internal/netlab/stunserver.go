//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// stunServer is a RFC 3489 style Binding responder with the four sockets that
// CHANGE-REQUEST needs: conns[i] listens on (IP i>>1, port i&1), where IP 0/port
// 0 are the primary ones and 1 the alternates. A request received on conns[i]
// is answered from conns[i ^ change], change having bit 1 for "change IP" and
// bit 0 for "change port". The mapped address is always the request's source,
// so what it reports follows the router's WAN address.
type stunServer struct {
	conns    [4]*net.UDPConn
	requests atomic.Int64
	wg       sync.WaitGroup
	once     sync.Once
}

// listenSTUN opens the four sockets with listen, which decides the network
// namespace they live in. A zero port or altPort takes a free port for the
// primary address and reuses it on the alternate one.
func listenSTUN(listen func(addr netip.AddrPort) (*net.UDPConn, error), ip, altIP netip.Addr, port, altPort uint16) ([4]*net.UDPConn, error) {
	var conns [4]*net.UDPConn
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	ports := [2]uint16{port, altPort}
	for i := range 2 {
		c, err := listen(netip.AddrPortFrom(ip, ports[i]))
		if err != nil {
			closeAll()
			return conns, fmt.Errorf("netlab: STUN socket: %w", err)
		}
		conns[i] = c
		ports[i] = localAddrPort(c).Port()
	}
	for i := range 2 {
		c, err := listen(netip.AddrPortFrom(altIP, ports[i]))
		if err != nil {
			closeAll()
			return conns, fmt.Errorf("netlab: STUN socket: %w", err)
		}
		conns[2+i] = c
	}
	return conns, nil
}

// newSTUNServer answers on conns until Close.
func newSTUNServer(conns [4]*net.UDPConn) *stunServer {
	s := &stunServer{conns: conns}
	for i := range conns {
		s.wg.Add(1)
		go s.serve(i)
	}
	return s
}

// Addr is the primary address, the one miniupnpd's ext_stun_host/port name.
func (s *stunServer) Addr() netip.AddrPort { return localAddrPort(s.conns[0]) }

// Requests is the number of Binding Requests answered so far.
func (s *stunServer) Requests() int64 { return s.requests.Load() }

// Close stops the responder and waits for its goroutines.
func (s *stunServer) Close() error {
	s.once.Do(func() {
		for _, c := range s.conns {
			c.Close()
		}
	})
	s.wg.Wait()
	return nil
}

// maxReadErrors bounds how many non-close read errors in a row a socket
// tolerates before its goroutine gives up.
const maxReadErrors = 100

// serve answers the requests that arrive on conns[i].
func (s *stunServer) serve(i int) {
	defer s.wg.Done()
	buf := make([]byte, stunMaxMessage+1) // one extra byte detects oversize packets
	out := make([]byte, 0, 128)
	failures := 0
	for {
		n, from, err := s.conns[i].ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures > maxReadErrors {
				return
			}
			continue
		}
		failures = 0
		req, err := parseSTUNRequest(buf[:n])
		if err != nil {
			continue
		}
		j := i
		if req.changeIP {
			j ^= 2
		}
		if req.changePort {
			j ^= 1
		}
		resp := stunResponse{
			mapped:  netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
			source:  localAddrPort(s.conns[j]),
			changed: localAddrPort(s.conns[i^3]),
		}
		out = appendSTUNResponse(out[:0], req, resp)
		if _, err := s.conns[j].WriteToUDPAddrPort(out, from); err == nil {
			s.requests.Add(1)
		}
	}
}

func localAddrPort(c *net.UDPConn) netip.AddrPort {
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
