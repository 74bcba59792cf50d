package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// server is the running state of one Relay, from Start until Wait returns.
type server struct {
	cfg       config
	listeners []net.Listener
	udp       []*udpListener
	stats     counters
	base      time.Time // origin of the monotonic activity stamps (see now)

	// slice bounds one io.Copy call of a TCP direction (see pump.go); tick
	// is the idle watchdog's period. Both are a quarter of the idle timeout
	// or less, so idleness is noticed between IdleTimeout and about
	// 1.5×IdleTimeout after the last byte.
	slice time.Duration
	tick  time.Duration

	// tunedListener is the listener the relay opened itself, if its
	// accepted sockets inherit the keepalive setting (see tuneListener).
	tunedListener net.Listener

	// lot parks idle TCP directions without goroutines (nil: never park).
	lot *lot

	// sem holds one token per live TCP connection; nil means no cap.
	sem chan struct{}

	// Per-source counts (see limits.go) and the UDP sessions in the tables
	// (see takeSlot; a session leaves its table before its goroutine ends,
	// so ActiveSessions cannot serve for the cap).
	tcpSources   *sourceCounts
	dialling     atomic.Int64 // TCP connections holding a slot, not yet in conns
	udpSources   *sourceCounts
	sessionSlots atomic.Int64

	// ctx is done when shutdown begins (the caller's context ended, Close,
	// or a fatal listener error); cutCtx when live traffic is cut.
	ctx    context.Context
	cancel context.CancelFunc
	cutCtx context.Context
	cut    context.CancelFunc

	mu    sync.Mutex
	conns map[*tcpConn]struct{} // live TCP connections, for cutting
	isCut bool

	// parks counts directions that parked (see pump.go); the watchdog uses
	// it to decide when to release the runtime's pooled splice pipes.
	parks     atomic.Int64
	parksSeen int64     // watchdog only
	lastGC    time.Time // watchdog only

	// changed is poked whenever a connection or session ends, so that the
	// drain in shutdown can notice that nothing is left.
	changed chan struct{}

	// registered is poked whenever a TCP connection joins conns, so that a
	// newcomer waiting at the cap looks again for a connection to evict.
	registered chan struct{}

	// tasks hands work to goroutines waiting for it (see workers.go).
	tasks       chan func()
	idleWorkers atomic.Int32
	spawned     atomic.Int64 // tasks spawned so far
	// workersStarted counts the goroutines spawn started: far fewer than
	// spawned while goroutines are reused.
	workersStarted atomic.Int64
	spawnedSeen    int64 // watchdog only

	wg      sync.WaitGroup // every goroutine the server starts
	done    chan struct{}  // closed when everything has stopped
	err     error          // set before done is closed
	errOnce sync.Once
}

func newServer(cfg config) *server {
	s := &server{
		cfg:        cfg,
		base:       time.Now(),
		conns:      make(map[*tcpConn]struct{}),
		changed:    make(chan struct{}, 1),
		registered: make(chan struct{}, 1),
		tasks:      make(chan func()),
		done:       make(chan struct{}),

		tcpSources: newSourceCounts(cfg.maxConnsPerSrc),
		udpSources: newSourceCounts(cfg.maxSessPerSrc),
	}
	if cfg.maxConns > 0 {
		s.sem = make(chan struct{}, cfg.maxConns)
	}
	s.slice = maxSlice
	if cfg.tcpIdle > 0 {
		s.slice = min(quarter(cfg.tcpIdle), maxSlice)
		s.tick = quarter(cfg.tcpIdle)
	}
	if cfg.udpIdle > 0 && (s.tick == 0 || quarter(cfg.udpIdle) < s.tick) {
		s.tick = quarter(cfg.udpIdle)
	}
	return s
}

// drainUDPIdle is how long a UDP session may be quiet during the shutdown
// drain before it ends.
const drainUDPIdle = time.Second

// maxSlice bounds one io.Copy call of a TCP direction: a direction that saw
// no byte for this long parks and gives back its pipe and stack.
const maxSlice = 250 * time.Millisecond

// quarter is d/4 clamped to [1ms, 1s].
func quarter(d time.Duration) time.Duration {
	return min(max(d/4, time.Millisecond), time.Second)
}

// now is a monotonic clock in nanoseconds since the server started, cheap to
// keep in an atomic.Int64.
func (s *server) now() int64 { return int64(time.Since(s.base)) }

// bind takes the inherited sockets or opens the ones Listen asks for. On
// failure it closes whatever it opened (inherited sockets too: the relay owns
// them from Start on).
func (s *server) bind(r *Relay) (err error) {
	defer func() {
		if err != nil {
			s.closeSockets()
		}
	}()
	if len(r.Listeners) > 0 || len(r.PacketConns) > 0 {
		s.listeners = append(s.listeners, r.Listeners...)
		for _, pc := range r.PacketConns {
			s.udp = append(s.udp, newUDPListener(s, pc.(*net.UDPConn)))
		}
		return nil
	}
	// Keepalive is set on the listening socket before it listens, so that
	// accepted sockets inherit it (see tuneListener), and on each accepted
	// connection where that failed or the listener is inherited (tuneTCP).
	var tuned bool
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, _ string, raw syscall.RawConn) error {
		if strings.HasPrefix(network, "tcp") {
			tuned = tuneListener(raw, s.cfg.keepAlive)
		}
		return nil
	}}
	addr := r.Listen
	if s.cfg.wantTCP() {
		network := s.cfg.network
		if network == "both" {
			network = "tcp"
		}
		l, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		s.listeners = append(s.listeners, l)
		if tuned {
			s.tunedListener = l
		}
		// With "both" and port 0, UDP takes the port TCP got.
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		}
	}
	if s.cfg.wantUDP() {
		network := s.cfg.network
		if network == "both" {
			network = "udp"
		}
		pc, err := lc.ListenPacket(context.Background(), network, addr)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		s.udp = append(s.udp, newUDPListener(s, pc.(*net.UDPConn)))
	}
	return nil
}

func (s *server) closeSockets() {
	for _, l := range s.listeners {
		l.Close()
	}
	for _, u := range s.udp {
		u.pc.Close()
	}
}

func (s *server) start(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.cutCtx, s.cut = context.WithCancel(context.Background())
	if len(s.listeners) > 0 {
		l, err := newLot(s)
		if err != nil {
			s.cfg.log.Warn("relay: no parking lot for idle connections; they keep their goroutines", "err", err)
		} else if l != nil {
			s.lot = l
			s.wg.Add(1)
			go l.run()
		}
	}
	for _, l := range s.listeners {
		s.wg.Add(1)
		go s.acceptLoop(l)
	}
	for _, u := range s.udp {
		s.wg.Add(1)
		go u.readLoop()
	}
	if len(s.listeners) > 0 && (s.tick == 0 || s.tick > s.slice) {
		s.tick = s.slice // to end io.Copy calls after a slice (see pump.go)
	}
	if s.tick == 0 {
		s.tick = time.Second // for the UDP drain (see watch)
	}
	s.wg.Add(1)
	go s.watch()
	go s.supervise()
}

// fail records the first fatal error and begins shutdown.
func (s *server) fail(err error) {
	s.errOnce.Do(func() { s.err = err })
	s.cancel()
}

// poke tells a draining shutdown that a connection or session ended.
func (s *server) poke() { nudge(s.changed) }

// nudge wakes whoever waits on ch, without blocking and without piling up.
func nudge(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// supervise waits for shutdown to begin, then stops accepting, lets live
// traffic drain for up to ShutdownTimeout, cuts what is left and waits for
// every goroutine before closing done.
func (s *server) supervise() {
	<-s.ctx.Done()
	for _, l := range s.listeners {
		l.Close()
	}
	for _, u := range s.udp {
		u.draining.Store(true)
	}
	timer := time.NewTimer(s.cfg.shutdownTimeout)
drain:
	for s.stats.activeConns.Load() > 0 || s.stats.activeSessions.Load() > 0 {
		select {
		case <-s.changed:
		case <-timer.C:
			break drain
		}
	}
	timer.Stop()
	s.cutAll()
	if s.lot != nil {
		s.lot.close()
	}
	s.wg.Wait()
	if s.lot != nil {
		s.lot.release()
	}
	s.cancel()
	s.cut()
	close(s.done)
}

// watch is the idle watchdog: every tick it ends the TCP connections and UDP
// sessions whose activity stamp is older than the idle timeout. It runs until
// everything is cut.
func (s *server) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.tick)
	defer t.Stop()
	udpIdle := s.cfg.udpIdle
	draining := s.ctx.Done()
	for {
		select {
		case <-t.C:
		case <-draining:
			// UDP has no end of session, so during the drain a session
			// lasts only while datagrams keep coming: quiet for
			// drainUDPIdle, it ends (an answer in flight still gets back).
			draining = nil
			if udpIdle <= 0 || udpIdle > drainUDPIdle {
				udpIdle = drainUDPIdle
			}
			t.Reset(min(s.tick, udpIdle/4))
			continue
		case <-s.cutCtx.Done():
			return
		}
		now := s.now()
		if len(s.listeners) > 0 {
			s.sweep(now)
			s.releasePipes()
			s.retireWorkers()
		}
		if udpIdle > 0 {
			for _, u := range s.udp {
				u.expire(now, udpIdle)
			}
		}
	}
}

// Pipe release. While io.Copy splices, the runtime lends the goroutine a
// pipe (two descriptors) and, when the copy returns, keeps the pipe in a
// sync.Pool, which only garbage collection empties (two cycles). A burst of
// connections that then go idle would keep two descriptors per parked
// direction, and the stacks the copies grew, until the heap happens to grow:
// in a relay that moves its bytes in the kernel that may be minutes. So after
// many directions have parked, the watchdog asks for the two collections
// itself, at most once per pipeReleaseEvery.
const (
	pipeReleaseParks = 256
	pipeReleaseEvery = 2 * time.Second
)

func (s *server) releasePipes() {
	parks := s.parks.Load()
	if parks-s.parksSeen < pipeReleaseParks || time.Since(s.lastGC) < pipeReleaseEvery {
		return
	}
	s.parksSeen, s.lastGC = parks, time.Now()
	runtime.GC()
	runtime.GC()
}

// cutAll ends every live connection and session and closes the UDP sockets.
func (s *server) cutAll() {
	s.mu.Lock()
	s.isCut = true
	conns := make([]*tcpConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cut() // aborts dials in progress
	for _, c := range conns {
		c.abort(endShutdown, nil)
	}
	for _, u := range s.udp {
		u.close()
	}
}

// register adds a live connection; it reports false when the server has
// already cut everything, in which case the caller must end the connection.
func (s *server) register(c *tcpConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialling.Add(-1)
	if s.isCut {
		return false
	}
	s.conns[c] = struct{}{}
	nudge(s.registered)
	return true
}

func (s *server) unregister(c *tcpConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// evictRetry is how often a newcomer waiting at the cap, with nothing to
// evict, looks again: a connection may have parked, or been silent for
// evictSilentAfter, since.
const evictRetry = maxSlice

// acquire takes a connection slot. At the cap it evicts the idlest
// connection (see victim) and waits for its slot. When none can be evicted
// (all busy, or still dialling) it waits for a slot to free or for a
// connection to finish dialling, and looks again. It reports false when
// shutdown begins first.
func (s *server) acquire() bool {
	if s.sem == nil {
		return s.ctx.Err() == nil
	}
	for {
		select {
		case s.sem <- struct{}{}:
			return true
		default:
		}
		if v := s.victim(); v != nil {
			if !v.ending.CompareAndSwap(false, true) {
				continue // it ended meanwhile; victim skips it now
			}
			s.stats.evicted.Add(1)
			v.abort(endEvicted, nil)
			select {
			case s.sem <- struct{}{}:
				return true
			case <-s.ctx.Done():
				return false
			}
		}
		// Nothing to evict yet: look again when a connection finishes
		// dialling, or after a while, when one may have parked.
		t := time.NewTimer(evictRetry)
		select {
		case s.sem <- struct{}{}:
			t.Stop()
			return true
		case <-s.registered:
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}

func (s *server) release() {
	if s.sem != nil {
		<-s.sem
	}
}

// acceptLoop accepts TCP connections on l until it is closed. A newcomer is
// checked (allow list, per-source limit) before it may take a slot, so a
// refused one never costs another connection its place.
func (s *server) acceptLoop(l net.Listener) {
	defer s.wg.Done()
	tuned := s.tunedListener == l
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if !isTransientAcceptError(err) {
				s.cfg.log.Error("relay: accept failed", "listen", l.Addr().String(), "err", err)
				s.fail(fmt.Errorf("relay: accept on %v: %w", l.Addr(), err))
				return
			}
			// Out of descriptors or memory: wait instead of spinning, so
			// that live connections can finish and free some.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.cfg.log.Warn("relay: accept failed, retrying", "listen", l.Addr().String(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		src, ok := s.admit(c)
		if !ok {
			continue
		}
		if !s.acquire() {
			s.tcpSources.give(src)
			c.Close()
			return
		}
		s.dialling.Add(1)
		s.spawn(func() { s.serveTCP(c, src, tuned) })
	}
}
