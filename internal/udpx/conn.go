package udpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ErrRefused is wrapped (together with the system error) when the peer's port
// is closed: the kernel reported an ICMP port unreachable for the connected
// socket. RFC 6886 §3.1 lets a client stop retransmitting early on this.
var ErrRefused = errors.New("port unreachable")

// errAttemptOver is returned by Conn.recv when the per-attempt deadline passed
// while the context is still live.
var errAttemptOver = errors.New("udpx: attempt deadline passed")

// longAgo is a deadline in the past: setting it makes a blocked read return at
// once.
var longAgo = time.Unix(1, 0)

// Conn is a UDP socket connected to one peer. The kernel drops datagrams from
// any other address, and recv checks the source again in case a platform does
// not.
type Conn struct {
	conn  *net.UDPConn
	peer  netip.AddrPort
	local netip.AddrPort

	mu       sync.Mutex // guards canceled and every SetReadDeadline
	canceled bool       // the context ended; every later deadline is longAgo
}

// Dial connects a fresh UDP socket to peer. Dialing UDP sends nothing; it only
// picks the local address the kernel would route from, which PCP puts in its
// header. A context that has ended gives the errors Do gives (errs.Timeout
// with context.DeadlineExceeded, or context.Canceled).
func Dial(ctx context.Context, peer netip.AddrPort) (*Conn, error) {
	return DialFrom(ctx, netip.Addr{}, peer)
}

// DialFrom is Dial with the socket bound to the local address from first
// (any port), unless from is the zero Addr. A PCP request for an IPv6
// pinhole must leave from the address being opened: the server reads the
// client address from the packet, and the kernel would otherwise pick a
// temporary address.
func DialFrom(ctx context.Context, from netip.Addr, peer netip.AddrPort) (*Conn, error) {
	var d net.Dialer
	if from.IsValid() {
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := d.DialContext(ctx, "udp", peer.String())
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The context ended before the socket was made (a short budget
			// on a loaded machine): the same error as an exchange that ran
			// out, not net's bare "i/o timeout", which no caller recognises.
			return nil, ctxError(0, cerr)
		}
		return nil, err
	}
	uc := c.(*net.UDPConn)
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	return &Conn{
		conn:  uc,
		peer:  normalize(peer),
		local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
	}, nil
}

// LocalAddr is the socket's own address (getsockname), IPv4 unmapped.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close closes the socket.
func (c *Conn) Close() error { return c.conn.Close() }

// send writes one datagram.
func (c *Conn) send(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// cancel makes the current and every later read return at once. It is what
// context.AfterFunc runs when the exchange's context ends.
func (c *Conn) cancel() {
	c.mu.Lock()
	c.canceled = true
	c.conn.SetReadDeadline(longAgo)
	c.mu.Unlock()
}

// setDeadline arms the read deadline unless the context already ended; the
// lock keeps a late deadline from overwriting cancel's.
func (c *Conn) setDeadline(t time.Time) {
	c.mu.Lock()
	if c.canceled {
		t = longAgo
	}
	c.conn.SetReadDeadline(t)
	c.mu.Unlock()
}

// recv reads one datagram from the peer into buf, waiting until the deadline.
// Datagrams from another source are skipped. It returns errAttemptOver when
// the deadline passes, and a wrapped ErrRefused when the peer's port is closed.
func (c *Conn) recv(buf []byte, deadline time.Time) (int, error) {
	c.setDeadline(deadline)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, errAttemptOver
			}
			if isRefused(err) {
				return 0, fmt.Errorf("%w: %w", ErrRefused, err)
			}
			return 0, err
		}
		if normalize(from) != c.peer {
			continue
		}
		return n, nil
	}
}

// normalize unmaps IPv4-mapped addresses and drops the zone, so that
// addresses from the socket compare equal to configured ones.
func normalize(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// isRefused reports an ICMP port unreachable surfacing on a connected socket:
// ECONNREFUSED on Linux and the BSDs, ECONNRESET on some other systems.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
