package sshfwd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// probeState is a GatewayPorts check in progress: the nonce the probe sends,
// and hit, closed when the probe arrives through the forward.
type probeState struct {
	nonce []byte
	hit   chan struct{}
	once  sync.Once
}

// nonceLen is the probe's nonce size: enough that no real client sends it by
// chance.
const nonceLen = 16

// isLoopbackBind reports whether the user asked for a loopback-only forward,
// which needs no check.
func isLoopbackBind(bind string) bool {
	if bind == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(bind)
	return err == nil && a.IsLoopback()
}

// checkGatewayPorts finds out whether the forward on c listens on the
// server's address, not just its loopback: sshd with the default
// GatewayPorts no accepts a request for every address but binds 127.0.0.1,
// and says nothing. The check opens a direct-tcpip channel from the server to
// its own address and the forward's port, sends a nonce, and waits for it to
// come back through the forward. A refused connection means loopback only.
// When the server forbids direct-tcpip the check cannot tell and passes.
func (f *Forward) checkGatewayPorts(ctx context.Context, c *ssh.Client) error {
	p := &probeState{nonce: make([]byte, nonceLen), hit: make(chan struct{})}
	rand.Read(p.nonce)
	f.mu.Lock()
	f.probe = p
	addr := f.addr
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.probe = nil
		f.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ProbeTimeout)
	defer cancel()
	dst := net.JoinHostPort(addr.Addr().String(), strconv.Itoa(int(addr.Port())))
	conn, err := c.DialContext(ctx, "tcp", dst)
	if err != nil {
		var oe *ssh.OpenChannelError
		if errors.As(err, &oe) && oe.Reason == ssh.ConnectionFailed {
			return loopbackOnly(f.cfg.Server.Host, addr.Port())
		}
		f.cfg.Logger.Warn("GatewayPorts check inconclusive: the server would not open a connection to its own address",
			"addr", dst, "err", cleaned("", err))
		return nil
	}
	defer conn.Close()
	if _, err := conn.Write(p.nonce); err != nil {
		f.cfg.Logger.Warn("GatewayPorts check inconclusive", "addr", dst, "err", err)
		return nil
	}
	select {
	case <-p.hit:
		return nil
	case <-ctx.Done():
		if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Something accepted on the server's address and port, and it was
		// not this forward: another program bound that address only.
		return loopbackOnly(f.cfg.Server.Host, addr.Port())
	}
}

// sniff handles a forwarded connection that arrives while a check is in
// progress: if it starts with the nonce it is the probe and ends here;
// otherwise it is relayed, with the bytes read first passed on. A client
// that waits for the server to speak first is relayed after ProbeTimeout
// without its first bytes having been seen.
func (f *Forward) sniff(nc ssh.NewChannel, p *probeState) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		f.wg.Done()
		return
	}
	f.wg.Add(1)
	go f.discard(reqs)
	first := make(chan []byte, 1)
	f.wg.Add(1)
	go f.readFirst(ch, first)
	t := time.NewTimer(f.cfg.ProbeTimeout)
	defer t.Stop()
	select {
	case b := <-first:
		if bytes.Equal(b, p.nonce) {
			p.once.Do(func() { close(p.hit) })
			ch.Close()
			f.wg.Done()
			return
		}
		again := make(chan []byte, 1)
		again <- b
		f.relayToTarget(ch, again)
	case <-t.C:
		f.relayToTarget(ch, first)
	case <-f.ctx.Done():
		f.relayToTarget(ch, first) // closes ch at once, ending readFirst
	}
}

// readFirst reads up to nonceLen bytes and hands them over. It ends when
// they have arrived, or the channel ends or is closed.
func (f *Forward) readFirst(ch ssh.Channel, out chan<- []byte) {
	defer f.wg.Done()
	b := make([]byte, nonceLen)
	n, _ := io.ReadFull(ch, b)
	out <- b[:n]
}
