package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// UDP relaying.
//
// Each client address gets a session: its own socket connected to the
// target, so the target's replies can be told apart by the socket they arrive
// on and sent back to that client from the listening socket. One goroutine per
// listening socket reads datagrams in batches (recvmmsg on Linux), groups
// consecutive datagrams of one client and writes them to that client's
// upstream socket in one batch (sendmmsg). Each session has one goroutine for
// the replies; it parks without a buffer (see waitReadable) and borrows a
// batch from a pool only while it has datagrams to move. Sessions expire
// after IdleTimeout without a datagram either way (the watchdog in server.go).

const (
	// maxDatagram holds any UDP payload (65,507 bytes over IPv4, 65,527 over
	// IPv6): a smaller buffer would silently truncate.
	maxDatagram = 1 << 16
	// listenBatch is how many datagrams one read of a listening socket
	// takes; replyBatch the same for a session's upstream socket.
	listenBatch = 16
	replyBatch  = 8
)

// udpListener serves one listening UDP socket.
type udpListener struct {
	s        *server
	pc       *net.UDPConn
	bc       batchConn
	draining atomic.Bool // shutdown began: no new sessions

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
	closed   bool
}

// udpSession is one client address and its upstream socket.
type udpSession struct {
	u          *udpListener
	key        netip.AddrPort // the client address as received
	source     netip.Prefix   // for the per-source count
	clientName string         // unmapped, for logs
	client     *net.UDPAddr   // where replies go
	up         *net.UDPConn
	upb        batchConn
	raw        syscall.RawConn
	start      time.Time
	last       atomic.Int64 // server.now() of the last datagram either way

	pktUp, pktDown, bytesUp, bytesDown atomic.Uint64

	endOnce sync.Once
	reason  string
	err     error
}

func newUDPListener(s *server, pc *net.UDPConn) *udpListener {
	return &udpListener{s: s, pc: pc, bc: newBatchConn(pc), sessions: make(map[netip.AddrPort]*udpSession)}
}

// readLoop reads client datagrams and hands them to their sessions until the
// listening socket is closed.
func (u *udpListener) readLoop() {
	defer u.s.wg.Done()
	in := newMessages(listenBatch, true)
	out := newMessages(listenBatch, false)
	for {
		n, err := u.bc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors reported on the listening socket and the like:
			// nothing to do but read on. Wait a little so that an error
			// that repeats cannot spin.
			u.s.cfg.log.Debug("relay: udp read", "listen", u.pc.LocalAddr().String(), "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		now := u.s.now()
		for i := 0; i < n; {
			from, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				i++
				continue
			}
			key := from.AddrPort()
			j := i + 1
			for j < n && sameAddr(in[j].Addr, key) {
				j++
			}
			if ss := u.session(key, from, now); ss != nil {
				ss.forward(in[i:j], out, now)
			} else {
				u.s.stats.dropped.Add(uint64(j - i))
			}
			i = j
		}
	}
}

func sameAddr(a net.Addr, key netip.AddrPort) bool {
	ua, ok := a.(*net.UDPAddr)
	return ok && ua.AddrPort() == key
}

// session finds the client's session or creates one. It returns nil when the
// datagram must be dropped: shutdown, not allowed, session cap, dial error.
func (u *udpListener) session(key netip.AddrPort, from *net.UDPAddr, now int64) *udpSession {
	u.mu.Lock()
	ss := u.sessions[key]
	u.mu.Unlock()
	if ss != nil {
		return ss
	}
	s := u.s
	if u.draining.Load() {
		return nil
	}
	ap, _ := clientAddr(from)
	if !s.cfg.allowed(ap, true) {
		s.stats.denied.Add(1)
		s.cfg.log.Debug("relay: udp datagram denied", "client", ap.String())
		return nil
	}
	src := sourceOf(ap.Addr())
	if !s.udpSources.take(src) {
		s.stats.refused.Add(1)
		s.cfg.log.Debug("relay: udp datagram refused: per-source session limit", "client", ap.String())
		return nil
	}
	if !u.takeSlot() {
		s.udpSources.give(src)
		return nil
	}
	s.stats.activeSessions.Add(1)
	ss, err := u.dial(key, ap, from, now)
	if err != nil {
		s.udpSources.give(src)
		s.sessionSlots.Add(-1)
		s.stats.activeSessions.Add(-1)
		s.poke()
		s.cfg.log.Warn("relay: udp session", "client", ap.String(), "target", s.cfg.target, "end", endDialFailed, "err", err.Error())
		return nil
	}
	ss.source = src
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		ss.up.Close()
		s.udpSources.give(src)
		s.sessionSlots.Add(-1)
		s.stats.activeSessions.Add(-1)
		s.poke()
		return nil
	}
	u.sessions[key] = ss
	u.mu.Unlock()
	s.stats.sessions.Add(1)
	s.wg.Add(1)
	go ss.run()
	return ss
}

// takeSlot reserves a place in the session tables, evicting this listener's
// quietest session at MaxSessions. It reports false when no place could be
// made (the other listeners hold every session).
func (u *udpListener) takeSlot() bool {
	s := u.s
	max := int64(s.cfg.maxSessions)
	for try := 0; ; try++ {
		if n := s.sessionSlots.Add(1); max <= 0 || n <= max {
			return true
		}
		s.sessionSlots.Add(-1)
		if try > 0 || !u.evictIdlest() {
			return false
		}
	}
}

func (u *udpListener) dial(key, ap netip.AddrPort, from *net.UDPAddr, now int64) (*udpSession, error) {
	s := u.s
	ctx, cancel := context.WithTimeout(s.cutCtx, s.cfg.dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.cfg.target)
	if err != nil {
		return nil, err
	}
	up := c.(*net.UDPConn)
	raw, err := up.SyscallConn()
	if err != nil {
		up.Close()
		return nil, err
	}
	ss := &udpSession{
		u:          u,
		key:        key,
		clientName: ap.String(),
		client:     &net.UDPAddr{IP: append(net.IP(nil), from.IP...), Port: from.Port, Zone: from.Zone},
		up:         up,
		upb:        newBatchConn(up),
		raw:        raw,
		start:      time.Now(),
	}
	ss.last.Store(now)
	return ss, nil
}

// forward writes one client's consecutive datagrams to its upstream socket.
//
// Datagrams are counted before they are handed to the kernel, and those it
// refuses are moved to Dropped afterwards: counted after the send, the last
// datagram could reach the target, be answered and reach the client before it
// shows in Stats, so a client that has its answer could read a count that
// misses its question.
func (ss *udpSession) forward(ms, out []message, now int64) {
	var bytes uint64
	for i := range ms {
		out[i].Buffers[0] = ms[i].Buffers[0][:ms[i].N]
		bytes += uint64(ms[i].N)
	}
	st := &ss.u.s.stats
	ss.last.Store(now)
	ss.count(&ss.pktUp, &ss.bytesUp, &st.packetsUp, &st.udpBytesUp, len(ms), bytes)
	sent, lostBytes := writeAll(ss.upb, out[:len(ms)])
	ss.uncount(&ss.pktUp, &ss.bytesUp, &st.packetsUp, &st.udpBytesUp, len(ms)-sent, lostBytes)
}

// count adds n datagrams of bytes to a session's and the server's counters.
func (ss *udpSession) count(pkts, bytes, totalPkts, totalBytes *atomic.Uint64, n int, b uint64) {
	pkts.Add(uint64(n))
	bytes.Add(b)
	totalPkts.Add(uint64(n))
	totalBytes.Add(b)
}

// uncount takes back n datagrams of bytes that count announced but the
// kernel refused, and counts them as dropped.
func (ss *udpSession) uncount(pkts, bytes, totalPkts, totalBytes *atomic.Uint64, n int, b uint64) {
	if n == 0 {
		return
	}
	// Adding the two's complement subtracts from an atomic.Uint64.
	pkts.Add(^uint64(n - 1))
	totalPkts.Add(^uint64(n - 1))
	if b > 0 {
		bytes.Add(^(b - 1))
		totalBytes.Add(^(b - 1))
	}
	ss.u.s.stats.dropped.Add(uint64(n))
}

// writeAll sends ms in as few batches as it can and returns how many went
// out and how many payload bytes did not. A datagram the kernel refuses
// (e.g. ECONNREFUSED left by an earlier ICMP message) is skipped, so the loop
// always ends.
func writeAll(bc batchConn, ms []message) (sent int, lostBytes uint64) {
	for i := 0; i < len(ms); {
		n, err := bc.WriteBatch(ms[i:], 0)
		if n > 0 {
			sent += n
			i += n
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			for _, m := range ms[i:] {
				lostBytes += uint64(len(m.Buffers[0]))
			}
			break
		}
		lostBytes += uint64(len(ms[i].Buffers[0]))
		i++
	}
	return sent, lostBytes
}

// run relays the target's replies to the client until the session ends.
func (ss *udpSession) run() {
	defer ss.u.s.wg.Done()
	defer ss.finish()
	u := ss.u
	for {
		if canPark {
			if err := waitReadable(ss.raw); err != nil {
				ss.setEnd(endError, err)
				return
			}
		}
		b := getBatch()
		n, err := ss.upb.ReadBatch(b.in, 0)
		if err != nil {
			putBatch(b)
			if errors.Is(err, syscall.ECONNREFUSED) {
				// Nothing listens on the target port (yet): an ICMP
				// error, not the end of the session.
				continue
			}
			ss.setEnd(endError, err)
			return
		}
		var bytes uint64
		for i := 0; i < n; i++ {
			b.out[i].Buffers[0] = b.in[i].Buffers[0][:b.in[i].N]
			b.out[i].Addr = ss.client
			bytes += uint64(b.in[i].N)
		}
		// Counted before the send, like forward and for the same reason.
		st := &u.s.stats
		ss.last.Store(u.s.now())
		ss.count(&ss.pktDown, &ss.bytesDown, &st.packetsDown, &st.udpBytesDown, n, bytes)
		sent, lostBytes := writeAll(u.bc, b.out[:n])
		putBatch(b)
		ss.uncount(&ss.pktDown, &ss.bytesDown, &st.packetsDown, &st.udpBytesDown, n-sent, lostBytes)
	}
}

func (ss *udpSession) setEnd(reason string, err error) {
	ss.endOnce.Do(func() { ss.reason, ss.err = reason, err })
}

// abort ends the session: it leaves the table at once, so the client's next
// datagram starts a new session, and its socket is closed, which ends run.
// It reports whether this call took it out of the table (false: it was
// already leaving).
func (ss *udpSession) abort(reason string) bool {
	ss.setEnd(reason, nil)
	left := ss.u.forget(ss)
	ss.up.Close()
	return left
}

// forget takes ss out of its table, and gives back its place and its
// source's count, once; it reports whether this call did.
func (u *udpListener) forget(ss *udpSession) bool {
	u.mu.Lock()
	left := u.sessions[ss.key] == ss
	if left {
		delete(u.sessions, ss.key)
	}
	u.mu.Unlock()
	if left {
		u.s.sessionSlots.Add(-1)
		u.s.udpSources.give(ss.source)
	}
	return left
}

// finish runs once, when run returns.
func (ss *udpSession) finish() {
	u := ss.u
	s := u.s
	u.forget(ss)
	ss.up.Close()
	if ss.reason == endIdle {
		s.stats.idleClosed.Add(1)
	}
	if s.cfg.log.Enabled(context.Background(), slog.LevelInfo) {
		attrs := []any{
			"client", ss.clientName,
			"target", s.cfg.target,
			"up", ss.bytesUp.Load(),
			"down", ss.bytesDown.Load(),
			"packets_up", ss.pktUp.Load(),
			"packets_down", ss.pktDown.Load(),
			"duration", time.Since(ss.start).Round(time.Microsecond),
			"end", ss.reason,
		}
		if ss.err != nil && !errors.Is(ss.err, net.ErrClosed) {
			attrs = append(attrs, "err", ss.err.Error())
		}
		s.cfg.log.Info("relay: udp session", attrs...)
	}
	s.stats.activeSessions.Add(-1)
	s.poke()
}

// expire ends the sessions idle for limit.
func (u *udpListener) expire(now int64, idle time.Duration) {
	limit := int64(idle)
	var quiet []*udpSession
	u.mu.Lock()
	for _, ss := range u.sessions {
		if now-ss.last.Load() >= limit {
			quiet = append(quiet, ss)
		}
	}
	u.mu.Unlock()
	for _, ss := range quiet {
		ss.abort(endIdle)
	}
}

// close is the cut at the end of shutdown: the listening socket and every
// session go.
func (u *udpListener) close() {
	u.mu.Lock()
	u.closed = true
	all := make([]*udpSession, 0, len(u.sessions))
	for _, ss := range u.sessions {
		all = append(all, ss)
	}
	u.mu.Unlock()
	u.pc.Close()
	for _, ss := range all {
		ss.abort(endShutdown)
	}
}
