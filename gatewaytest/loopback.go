package gatewaytest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// Every Gateway gets its own loopback address, so that it can own the fixed
// ports of the protocols (5351, 1900) while other gateways in the same test
// binary, or other test binaries, own theirs. Linux routes all of 127.0.0.0/8
// to lo, so any 127.x.y.z can be bound without configuration. Elsewhere only
// 127.0.0.1 usually exists; Start falls back to it once.

// usedAddrs remembers the addresses this process has handed out, so that two
// gateways never share one even when neither binds a fixed port. Addresses
// are not reused after Close either: a late packet for an old gateway must
// not reach a new one.
var usedAddrs struct {
	sync.Mutex
	m map[netip.Addr]bool
}

const bindAttempts = 64

// sockets are what bindLoopback opened on one address.
type sockets struct {
	addr netip.Addr
	pmp  *net.UDPConn // :5351
	ssdp *net.UDPConn // :1900
	http net.Listener // TCP :ephemeral
}

func (s *sockets) close() {
	if s.pmp != nil {
		s.pmp.Close()
	}
	if s.ssdp != nil {
		s.ssdp.Close()
	}
	if s.http != nil {
		s.http.Close()
	}
}

// bindLoopback picks a random unused 127.x.y.z and binds the sockets asked
// for, retrying on another address when one is taken.
func bindLoopback(wantPMP, wantUPnP bool) (*sockets, error) {
	var last error
	for i := range bindAttempts {
		a := randomLoopback()
		if i == bindAttempts-1 || errors.Is(last, syscall.EADDRNOTAVAIL) {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		if !claim(a) {
			continue
		}
		s, err := bindOn(a, wantPMP, wantUPnP)
		if err == nil {
			return s, nil
		}
		last = err
		if errors.Is(err, syscall.EADDRNOTAVAIL) && a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			break
		}
	}
	return nil, fmt.Errorf("no free loopback address after %d attempts: %w", bindAttempts, last)
}

// randomLoopback returns 127.a.b.c with a != 0 (127.0.0.x is where other
// software lives) and c not 0 or 255.
func randomLoopback() netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(254)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
}

// claim marks a as used by this process; false if it already was.
func claim(a netip.Addr) bool {
	usedAddrs.Lock()
	defer usedAddrs.Unlock()
	if usedAddrs.m == nil {
		usedAddrs.m = make(map[netip.Addr]bool)
	}
	if usedAddrs.m[a] {
		return false
	}
	usedAddrs.m[a] = true
	return true
}

func bindOn(a netip.Addr, wantPMP, wantUPnP bool) (*sockets, error) {
	s := &sockets{addr: a}
	var err error
	if wantPMP {
		if s.pmp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 5351))); err != nil {
			s.close()
			return nil, err
		}
	}
	if wantUPnP {
		if s.ssdp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 1900))); err != nil {
			s.close()
			return nil, err
		}
		if s.http, err = net.Listen("tcp4", netip.AddrPortFrom(a, 0).String()); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// otherLoopback binds a UDP socket on port of another fresh loopback
// address: the source of "wrong-source" decoy replies (5351), or of SSDP
// answers from a router's static address (1900, SetSSDPFromStatic).
func otherLoopback(port uint16) (*net.UDPConn, error) {
	var last error
	for range bindAttempts {
		a := randomLoopback()
		if !claim(a) {
			continue
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
		if err == nil {
			return c, nil
		}
		last = err
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			break
		}
	}
	return nil, fmt.Errorf("gatewaytest: socket on another loopback address: %w", last)
}
