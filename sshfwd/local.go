package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Local listens on listen ("host:port" on this machine, port 0 for any) and
// forwards each connection through the server to target, which the server
// dials (OpenSSH's ssh -L listen:target). Like Remote, the first connection
// is not retried; later drops are repaired in the background, and
// connections that arrive meanwhile wait up to DialTimeout for it.
func Local(ctx context.Context, cfg Config, listen, target string) (*Forward, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("sshfwd: target %q: %w", target, err)
	}
	f := newForward(cfg, target)
	f.local = true
	c, err := f.connect(ctx)
	if err != nil {
		f.cancel()
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		c.Close()
		f.cancel()
		return nil, fmt.Errorf("sshfwd: listen on %s: %w", listen, err)
	}
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	f.mu.Lock()
	f.ln, f.addr = ln, ap
	f.mu.Unlock()
	f.setClient(c)
	f.wg.Add(2)
	go f.maintain(c)
	go f.acceptLocal(ln)
	return f, nil
}

// acceptPause is the wait after a failed Accept (e.g. out of file
// descriptors), so that the loop does not spin.
const acceptPause = 50 * time.Millisecond

// acceptLocal takes local connections until the listener closes.
func (f *Forward) acceptLocal(ln net.Listener) {
	defer f.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			f.cfg.Logger.Debug("local forward: accept", "err", err)
			select {
			case <-time.After(acceptPause):
			case <-f.ctx.Done():
				return
			}
			continue
		}
		f.wg.Add(1)
		go f.relayThroughServer(conn)
	}
}

// relayThroughServer opens a direct-tcpip channel to the target for one
// local connection and copies both ways.
func (f *Forward) relayThroughServer(conn net.Conn) {
	defer f.wg.Done()
	if !f.relays.add(conn) {
		return
	}
	defer f.relays.remove(conn)
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.DialTimeout)
	defer cancel()
	c, err := f.current(ctx)
	if err != nil {
		conn.Close()
		return
	}
	remote, err := c.DialContext(ctx, "tcp", f.target)
	if err != nil {
		f.cfg.Logger.Debug("local forward: server could not reach the target", "target", f.target, "err", cleaned("", err))
		conn.Close()
		return
	}
	if !f.relays.add(remote) {
		conn.Close()
		return
	}
	defer f.relays.remove(remote)
	pipe(remote, conn)
}
