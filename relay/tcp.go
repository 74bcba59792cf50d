package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Why a connection or session ended, as logged in its "end" attribute.
const (
	endClosed     = "closed"      // both directions reached EOF
	endError      = "error"       // a read or write failed (reset, broken pipe …)
	endIdle       = "idle"        // IdleTimeout
	endShutdown   = "shutdown"    // cut at the end of ShutdownTimeout
	endDialFailed = "dial failed" // the target refused or did not answer
	endDenied     = "denied"      // not in Allow
	endRefused    = "refused"     // its source was at the per-source limit
	endEvicted    = "evicted"     // ended to make room at the cap
	endSilent     = "silent"      // nothing sent either way for SilentTimeout
)

// halfConn is a stream connection that can close its write side and expose
// its descriptor: *net.TCPConn and *net.UnixConn. The relay passes the
// concrete values to io.Copy, so Linux splices between them.
type halfConn interface {
	net.Conn
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// tcpConn is one relayed connection: a client, a target and two directions.
type tcpConn struct {
	s          *server
	client     halfConn
	target     halfConn
	clientAddr string
	source     netip.Prefix // for the per-source count; invalid: not counted
	start      time.Time
	born       int64        // server.now() at accept
	last       atomic.Int64 // server.now() when bytes last moved
	ending     atomic.Bool  // abort was called: no longer a candidate for eviction
	upBytes    atomic.Int64
	downBytes  atomic.Int64
	dirs       [2]*direction // up (client to target), down; set before register
	live       atomic.Int32  // directions not yet done

	// The legs whose keepalive setting waits for the first park (tuneLate).
	clientUntuned, targetUntuned atomic.Bool

	endOnce sync.Once
	reason  string
	err     error
}

// admit checks the connection type, the allow list and the per-source limit
// before a slot or a goroutine is spent on c. It returns the source it
// counted c against, or false after closing c.
func (s *server) admit(c net.Conn) (netip.Prefix, bool) {
	if _, ok := c.(halfConn); !ok {
		c.Close()
		s.cfg.log.Error("relay: listener returned an unsupported connection type", "type", typeName(c))
		return netip.Prefix{}, false
	}
	ap, ok := clientAddr(c.RemoteAddr())
	if !s.cfg.allowed(ap, ok) {
		s.stats.denied.Add(1)
		c.Close()
		s.cfg.log.Info("relay: tcp connection", "client", peerString(c.RemoteAddr(), ap, ok), "end", endDenied)
		return netip.Prefix{}, false
	}
	var src netip.Prefix
	if ok {
		src = sourceOf(ap.Addr())
	}
	if !s.tcpSources.take(src) {
		s.stats.refused.Add(1)
		// A reset leaves no TIME_WAIT behind on the relay's side, however
		// many connections a flood opens.
		if t, ok := c.(*net.TCPConn); ok {
			t.SetLinger(0)
		}
		c.Close()
		s.cfg.log.Info("relay: tcp connection", "client", peerString(c.RemoteAddr(), ap, ok), "end", endRefused)
		return netip.Prefix{}, false
	}
	return src, true
}

// serveTCP dials the target for an admitted client, sends the PROXY header if
// asked, and starts the two directions. It owns the connection slot and the
// per-source count of src. tuned says the client socket already has the
// keepalive setting from its listener (see tuneListener).
func (s *server) serveTCP(nc net.Conn, src netip.Prefix, tuned bool) {
	client := nc.(halfConn)
	ap, ok := clientAddr(client.RemoteAddr())
	c := &tcpConn{
		s:          s,
		client:     client,
		clientAddr: peerString(client.RemoteAddr(), ap, ok),
		source:     src,
		start:      time.Now(),
		born:       s.now(),
	}
	s.stats.conns.Add(1)
	s.stats.activeConns.Add(1)
	c.last.Store(c.born)
	// Keepalive matters only on a connection that goes quiet, so where
	// directions park it is set when the first one does (see tuneLate):
	// a short connection saves the system calls.
	c.clientUntuned.Store(!tuned)
	if !tuned && s.lot == nil {
		c.clientUntuned.Store(false)
		s.tuneTCP(client)
	}

	d := net.Dialer{Timeout: s.cfg.dialTimeout, KeepAlive: -1}
	tc, err := d.DialContext(s.cutCtx, "tcp", s.cfg.target)
	if err != nil {
		s.stats.dialErrors.Add(1)
		s.dialling.Add(-1)
		// A reset tells the client at once that there is nothing behind
		// the relay, where a FIN would look like an empty answer.
		if t, ok := client.(*net.TCPConn); ok {
			t.SetLinger(0)
		}
		c.setEnd(endDialFailed, err)
		c.finish()
		return
	}
	c.target = tc.(*net.TCPConn)
	if s.cfg.keepAlive > 0 {
		// Dialled with keepalive off, so only "on" needs system calls.
		c.targetUntuned.Store(true)
		if s.lot == nil {
			c.targetUntuned.Store(false)
			s.tuneTCP(c.target)
		}
	}
	c.dirs = [2]*direction{
		{c: c, src: client, dst: c.target, bytes: &c.upBytes, total: &s.stats.bytesUp},
		{c: c, src: c.target, dst: client, bytes: &c.downBytes, total: &s.stats.bytesDown},
	}
	c.live.Store(2)
	if !s.register(c) {
		c.setEnd(endShutdown, nil)
		c.finish()
		return
	}
	if v := s.cfg.proxyProtocol; v != 0 {
		hdr := proxyHeader(v, client.RemoteAddr(), client.LocalAddr())
		c.target.SetWriteDeadline(time.Now().Add(s.cfg.dialTimeout))
		_, err := c.target.Write(hdr)
		c.target.SetWriteDeadline(time.Time{})
		if err != nil {
			c.abort(endError, err)
		}
	}
	// Both directions start flowing: most protocols speak at once, and a
	// quiet direction parks after one slice. This goroutine, whose stack
	// the dial already grew, carries the first.
	s.spawn(c.dirs[1].flow)
	c.dirs[0].flow()
}

// tuneLate applies the keepalive setting to the legs that do not have it
// yet. A direction calls it before it first parks: keepalive probes start
// only after KeepAlive of quiet, and a connection that never parks is never
// quiet for a slice, so the setting is in place long before it can matter
// (its first probe comes at most a slice later than if set at accept).
func (c *tcpConn) tuneLate() {
	if c.clientUntuned.Load() && c.clientUntuned.Swap(false) {
		c.s.tuneTCP(c.client)
	}
	if c.targetUntuned.Load() && c.targetUntuned.Swap(false) {
		c.s.tuneTCP(c.target)
	}
}

// tuneTCP applies the keepalive setting to one leg.
func (s *server) tuneTCP(c halfConn) {
	t, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if ka := s.cfg.keepAlive; ka > 0 {
		// Count -1 keeps the system's probe count (9 by default) and saves
		// a system call per leg.
		t.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: ka, Interval: ka, Count: -1})
	} else {
		t.SetKeepAlive(false)
	}
}

// setEnd records why the connection ended; the first reason wins.
func (c *tcpConn) setEnd(reason string, err error) {
	c.endOnce.Do(func() { c.reason, c.err = reason, err })
}

// abort ends the connection early: both sockets are closed, which wakes both
// directions. Called by the idle watchdog, by shutdown and on errors.
func (c *tcpConn) abort(reason string, err error) {
	c.ending.Store(true)
	c.setEnd(reason, err)
	c.client.Close()
	if c.target != nil {
		c.target.Close()
	}
	for _, d := range c.dirs {
		if d != nil {
			d.unpark()
		}
	}
}

// dirDone is called once by each direction when it stops.
func (c *tcpConn) dirDone(err error) {
	if err != nil {
		c.abort(endError, err)
	}
	if c.live.Add(-1) == 0 {
		c.finish()
	}
}

// finish releases everything the connection holds and logs it. It runs once,
// after both directions (or the dial) are done.
func (c *tcpConn) finish() {
	s := c.s
	c.setEnd(endClosed, nil)
	if c.target != nil {
		c.target.Close()
		s.unregister(c)
	}
	if s.cfg.log.Enabled(context.Background(), slog.LevelInfo) {
		attrs := []any{
			"client", c.clientAddr,
			"target", s.cfg.target,
			"up", c.upBytes.Load(),
			"down", c.downBytes.Load(),
			"duration", time.Since(c.start).Round(time.Microsecond),
			"end", c.reason,
		}
		if c.err != nil && !errors.Is(c.err, net.ErrClosed) {
			attrs = append(attrs, "err", c.err.Error())
		}
		s.cfg.log.Info("relay: tcp connection", attrs...)
	}
	// Counted after the log line, so that ActiveConns == 0 means every
	// line is logged, and before the client socket closes, so that a
	// client that sees its connection end (a reset after a failed dial)
	// finds it counted as ended.
	s.tcpSources.give(c.source)
	s.stats.activeConns.Add(-1)
	c.client.Close()
	s.release()
	s.poke()
}

// sweep interrupts directions whose io.Copy has run for a slice (see
// pump.go) and aborts connections that moved no bytes for IdleTimeout, or
// none at all for SilentTimeout.
func (s *server) sweep(now int64) {
	limit := int64(s.cfg.tcpIdle)
	silentLimit := int64(s.cfg.silentTimeout)
	var idle, silent []*tcpConn
	s.mu.Lock()
	for c := range s.conns {
		if silentLimit > 0 && now-c.born >= silentLimit && c.silent() {
			silent = append(silent, c)
			continue
		}
		if limit > 0 && now-c.last.Load() >= limit {
			idle = append(idle, c)
			continue
		}
		c.dirs[0].interrupt(now)
		c.dirs[1].interrupt(now)
	}
	s.mu.Unlock()
	for _, c := range silent {
		if c.ending.CompareAndSwap(false, true) {
			s.stats.silentClosed.Add(1)
			c.abort(endSilent, nil)
		}
	}
	// Counted before the sockets close, for the same reason as in finish.
	for _, c := range idle {
		if c.ending.CompareAndSwap(false, true) {
			s.stats.idleClosed.Add(1)
			c.abort(endIdle, nil)
		}
	}
}

func peerString(a net.Addr, ap netip.AddrPort, ok bool) string {
	if ok {
		return ap.String()
	}
	if a == nil {
		return "?"
	}
	return a.String()
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func isTransientAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EPROTO, syscall.EINTR, syscall.ETIMEDOUT, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}
