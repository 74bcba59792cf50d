package reach

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPort is the port a checker listens on, for TCP and UDP, when its
// address names none: the STUN port, since the checker is also a STUN server.
const DefaultPort = 3478

// Server defaults, used where a field is zero.
const (
	DefaultRate         = 1.0 // requests per second per source
	DefaultBurst        = 5
	DefaultMaxProbes    = 64
	DefaultProbeTimeout = 3 * time.Second
	defaultMaxConns     = 256
	defaultMaxSources   = 1 << 16
	defaultReadTimeout  = 5 * time.Second
	// echoWait is how long a TCP probe that connected waits for the echo
	// before calling the port OPEN: an answering client echoes at once, an
	// application never does.
	echoWait = time.Second
)

// Server is a checker: it probes back to whoever asks, and answers STUN
// Binding requests. Its zero value listens on DefaultPort on every address
// with the defaults stated at each field. Start it with ListenAndServe, or
// Start and Close.
type Server struct {
	// Addr is the listen address for TCP and UDP, "host:port". Default
	// ":3478", every address, IPv4 and IPv6. With port 0, one free port is
	// chosen for both.
	Addr string
	// AltAddr is a second address, "ip:port", on another IP and another port
	// of this host. With it, the server also listens (UDP) on the two mixed
	// pairs and answers RFC 5780 CHANGE-REQUEST, RESPONSE-PORT and
	// OTHER-ADDRESS; Addr must then name an IP too. Default: none.
	AltAddr string
	// Rate is how many requests (checks and STUN) per second one source may
	// make, after a burst of Burst. A source is an IPv4 address or an IPv6
	// /64. Defaults 1 and 5.
	Rate  float64
	Burst int
	// MaxProbes caps the probes in flight; requests beyond it are answered
	// BUSY. Default 64.
	MaxProbes int
	// MaxConns caps the open TCP request connections; beyond it, new ones are
	// closed at once. Default 256.
	MaxConns int
	// MaxSources caps the rate limiter's table; when it is full of active
	// sources, new sources are refused until some go quiet. Default 65536.
	MaxSources int
	// ProbeTimeout bounds one probe: the TCP connect, or the wait for a UDP
	// reply. Default 3s.
	ProbeTimeout time.Duration
	// ReadTimeout bounds how long a TCP client may take to send its request.
	// Default 5s.
	ReadTimeout time.Duration
	// Logger gets one debug line per request; default silent.
	Logger *slog.Logger

	// dial opens a probe's connection; tests replace it to record targets.
	dial func(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error)

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	ctx     context.Context
	ln      *net.TCPListener
	udp     [4]*udpSocket // index bit 0: alternate IP, bit 1: alternate port
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	lim     limiter
	probes  chan struct{}
	conSem  chan struct{}
	log     *slog.Logger
	stats   counters
	hasAlt  bool
	primary netip.AddrPort
	flights map[flightKey]struct{} // UDP requests being probed (guarded by mu)
}

type udpSocket struct {
	conn  *net.UDPConn
	local netip.AddrPort
}

// Stats are a server's counters since Start.
type Stats struct {
	Requests    uint64 // checker requests received (TCP and UDP), valid or not
	Probes      uint64 // probes sent
	Limited     uint64 // requests refused by the per-source rate limit
	Busy        uint64 // requests refused by the probe cap
	Bad         uint64 // malformed requests
	STUN        uint64 // STUN Binding requests answered
	UDPBytesIn  uint64 // bytes of every UDP datagram received
	UDPBytesOut uint64 // bytes of every UDP answer, and UDP probe, caused by a UDP datagram
}

type counters struct {
	requests, probes, limited, busy, bad, stun, udpIn, udpOut atomic.Uint64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Requests: c.requests.Load(), Probes: c.probes.Load(), Limited: c.limited.Load(),
		Busy: c.busy.Load(), Bad: c.bad.Load(), STUN: c.stun.Load(),
		UDPBytesIn: c.udpIn.Load(), UDPBytesOut: c.udpOut.Load(),
	}
}

// ListenAndServe starts the server and serves until ctx ends, then closes it.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// LocalAddr is the primary address the server listens on (its port is the
// one chosen when Addr had port 0). Valid after Start.
func (s *Server) LocalAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary
}

// AltLocalAddr is the alternate address (RFC 5780), or the zero value.
func (s *Server) AltLocalAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp[3] == nil {
		return netip.AddrPort{}
	}
	return s.udp[3].local
}

// Start binds the sockets and starts serving in the background. A Server
// starts once: after a failed Start or a Close, make a new one.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("reach: server already started")
	}
	s.started = true
	s.lim = limiter{
		rate:       orFloat(s.Rate, DefaultRate),
		burst:      float64(orInt(s.Burst, DefaultBurst)),
		maxSources: orInt(s.MaxSources, defaultMaxSources),
	}
	s.probes = make(chan struct{}, orInt(s.MaxProbes, DefaultMaxProbes))
	s.conSem = make(chan struct{}, orInt(s.MaxConns, defaultMaxConns))
	s.conns = make(map[net.Conn]struct{})
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.dial == nil {
		s.dial = dialProbe
	}
	if err := s.bind(); err != nil {
		s.closeSockets()
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	for i, u := range s.udp {
		if u != nil {
			s.wg.Add(1)
			go s.readLoop(i)
		}
	}
	return nil
}

// Close stops the server, cuts open connections and probes, and returns when
// every goroutine has ended. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, u := range s.udp {
		if u != nil {
			u.conn.Close()
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func orInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func orFloat(v, d float64) float64 {
	if v <= 0 {
		return d
	}
	return v
}

func orDur(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// admit applies the rate limit and takes a probe slot. It returns the
// verdict to answer without probing (LIMITED, BUSY) or 0 with a slot held,
// to be given back with release.
func (s *Server) admit(src netip.Addr) (Code, uint16) {
	if ok, wait := s.lim.allow(src, time.Now()); !ok {
		s.stats.limited.Add(1)
		return CodeLimited, uint16(min(wait/time.Second+1, 3600))
	}
	select {
	case s.probes <- struct{}{}:
		return 0, 0
	default:
		s.stats.busy.Add(1)
		return CodeBusy, 1
	}
}

func (s *Server) release() { <-s.probes }
