package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults applied when the corresponding Relay field is zero.
const (
	DefaultMaxConns    = 1024
	DefaultMaxSessions = 1024
	// DefaultMaxConnsPerSource and DefaultMaxSessionsPerSource let one
	// source hold a sixteenth of the default table: plenty for a browser
	// or a household behind one address, too few to lock others out.
	DefaultMaxConnsPerSource    = 64
	DefaultMaxSessionsPerSource = 64
	// DefaultSilentTimeout is long enough for a person to type the first
	// line of a protocol by hand and far shorter than an idle timeout.
	DefaultSilentTimeout   = 10 * time.Second
	DefaultDialTimeout     = 10 * time.Second
	DefaultUDPIdleTimeout  = 60 * time.Second
	DefaultKeepAlive       = 15 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// ErrInvalid is wrapped by every error that Start and Run return for a
// configuration they cannot serve (bad network, target, prefix, PROXY version,
// or a second Start).
var ErrInvalid = errors.New("relay: invalid configuration")

// Relay forwards TCP connections and UDP datagrams from a local address to a
// target. The zero value is not runnable: Target and either Listen or inherited
// sockets are required. Every other field has a working default.
//
// Fields must not be changed after Start. A Relay runs once.
type Relay struct {
	// Network is "tcp", "udp" or "both" (TCP and UDP on the same address);
	// "tcp4", "tcp6", "udp4" and "udp6" bind one address family only.
	// Default "tcp". It applies to Listen: an inherited Listener is always
	// relayed as TCP and an inherited PacketConn as UDP.
	Network string

	// Listen is the local address, "host:port" (":8080", "[::1]:53",
	// "127.0.0.1:0"). Ignored when Listeners or PacketConns are set.
	Listen string

	// Listeners and PacketConns are sockets that are already bound, such as
	// those SystemdListeners returns. When either is set they replace Listen.
	// The relay owns them from Start on and closes them at shutdown.
	// PacketConns must be *net.UDPConn.
	Listeners   []net.Listener
	PacketConns []net.PacketConn

	// Target is where traffic goes, "host:port". A host name is resolved on
	// every TCP connection and every new UDP session.
	Target string

	// Allow lists the client prefixes that may use the relay, IPv4 and IPv6
	// alike; empty means everyone. IPv4-mapped IPv6 clients (::ffff:a.b.c.d,
	// seen on dual-stack sockets) and ::ffff:0:0/96-style prefixes are
	// compared as IPv4. A refused TCP client is accepted and closed at once;
	// a refused UDP datagram is dropped.
	Allow []netip.Prefix

	// MaxConns caps the TCP connections relayed at once; default
	// DefaultMaxConns, negative = no cap. At the cap a newcomer is still
	// served: to make room the relay ends (evicts) the oldest connection on
	// which nothing has been sent either way for at least a second or, when
	// every connection has sent something, the one quiet the longest among
	// those quiet for at least a quarter of a second. Connections moving
	// bytes are never evicted: when all are busy (or too new to judge) the
	// newcomer waits, accepted, until a slot frees or one can be evicted.
	// Evictions are counted in Stats.Evicted.
	MaxConns int

	// MaxConnsPerSource caps the TCP connections one source holds at once;
	// default DefaultMaxConnsPerSource, negative = no cap. A source is an
	// IPv4 address or an IPv6 /64. A connection beyond it is reset at once
	// and counted in Stats.Refused.
	MaxConnsPerSource int

	// MaxSessions caps the UDP sessions (client addresses) alive at once;
	// default DefaultMaxSessions, negative = no cap. At the cap a new
	// client still gets a session: the session quiet for the longest time
	// is ended to make room (counted in Stats.Evicted); its client's next
	// datagram starts a new one.
	MaxSessions int

	// MaxSessionsPerSource caps the UDP sessions one source (an IPv4
	// address or an IPv6 /64, whatever the port) holds at once; default
	// DefaultMaxSessionsPerSource, negative = no cap. A datagram that would
	// start a session beyond it is dropped and counted in Stats.Refused, so
	// a flood from one address with changing ports cannot fill the table.
	MaxSessionsPerSource int

	// SilentTimeout closes a TCP connection on which neither the client nor
	// the target has sent a byte this long after it was accepted, so that
	// connections opened and left mute do not hold slots for IdleTimeout (or
	// forever); default DefaultSilentTimeout, negative = off. Counted in
	// Stats.SilentClosed. Protocols where the server speaks first (SSH, SMTP)
	// are never silent while the target answers.
	SilentTimeout time.Duration

	// DialTimeout bounds connecting to the target; default
	// DefaultDialTimeout. A refused or timed-out dial resets the client
	// connection (RST) so the client learns at once.
	DialTimeout time.Duration

	// IdleTimeout closes a TCP connection or UDP session after this long
	// with no bytes moving in either direction. Zero means: TCP connections
	// never expire for idleness (keepalive still finds dead peers) and UDP
	// sessions expire after DefaultUDPIdleTimeout. Negative: UDP sessions
	// never expire either (only the session cap bounds them). A watchdog
	// checks every quarter of the timeout (at most every second), so the end
	// comes between IdleTimeout and about 1.5×IdleTimeout after the last byte.
	IdleTimeout time.Duration

	// KeepAlive is the TCP keepalive idle time and probe interval on both
	// legs (the probe count is the system's, 9 by default); default
	// DefaultKeepAlive, negative = keepalive off. On Linux a leg that does
	// not inherit it from the relay's own listener gets it when the
	// connection first goes quiet for a quarter of a second, so that short
	// connections do not pay for it.
	KeepAlive time.Duration

	// ShutdownTimeout is how long live connections and sessions may go on
	// after the context given to Start is done; then they are cut. UDP has
	// no end of session, so during this drain a UDP session that is quiet
	// for a second ends by itself. Default
	// DefaultShutdownTimeout, negative = cut at once.
	ShutdownTimeout time.Duration

	// ProxyProtocol, when 1 or 2, sends a PROXY protocol header of that
	// version to the target at the start of each TCP connection, carrying
	// the client's address and the address it connected to. Default 0 (off).
	// TCP only: UDP datagrams are forwarded unchanged. The relay never reads
	// a PROXY header from clients.
	ProxyProtocol int

	// Logger gets one line per TCP connection and per UDP session when it
	// ends (client, bytes each way, duration, why it ended) and lines for
	// listener errors. Nil means silent.
	Logger *slog.Logger

	mu  sync.Mutex
	srv *server
}

// Run starts the relay and serves until ctx is done, then shuts down as
// ShutdownTimeout says. It returns nil after a shutdown that ctx asked for,
// or the error that stopped it.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	return r.Wait()
}

// Start binds the listening sockets (or takes the inherited ones), starts
// serving in the background and returns. Serving stops when ctx is done or
// Close is called; Wait waits for that to finish.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return fmt.Errorf("%w: already started", ErrInvalid)
	}
	cfg, err := r.config()
	if err != nil {
		return err
	}
	srv := newServer(cfg)
	if err := srv.bind(r); err != nil {
		return err
	}
	r.srv = srv
	srv.start(ctx)
	return nil
}

// Wait blocks until the relay has shut down: every connection, session,
// goroutine and socket it made is gone. It returns the error that stopped it,
// or nil. Wait before Start returns nil at once.
func (r *Relay) Wait() error {
	srv := r.server()
	if srv == nil {
		return nil
	}
	<-srv.done
	return srv.err
}

// Close starts a shutdown (as if the context were done) and waits for it.
// It is idempotent and safe to call concurrently with Wait.
func (r *Relay) Close() error {
	srv := r.server()
	if srv == nil {
		return nil
	}
	srv.cancel()
	<-srv.done
	return srv.err
}

// Addrs returns the addresses the relay listens on, TCP first then UDP.
// It is empty before Start.
func (r *Relay) Addrs() []net.Addr {
	srv := r.server()
	if srv == nil {
		return nil
	}
	var out []net.Addr
	for _, l := range srv.listeners {
		out = append(out, l.Addr())
	}
	for _, u := range srv.udp {
		out = append(out, u.pc.LocalAddr())
	}
	return out
}

// Stats returns the relay's counters at this moment. Safe to call at any time
// from any goroutine; all zero before Start.
func (r *Relay) Stats() Stats {
	srv := r.server()
	if srv == nil {
		return Stats{}
	}
	return srv.stats.snapshot()
}

func (r *Relay) server() *server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}

// config is the Relay's settings with defaults applied and checked.
type config struct {
	network         string // "tcp", "udp", "both" or a family-specific form
	target          string
	allow           []netip.Prefix
	maxConns        int           // <= 0: no cap
	maxSessions     int           // <= 0: no cap
	maxConnsPerSrc  int           // <= 0: no cap
	maxSessPerSrc   int           // <= 0: no cap
	silentTimeout   time.Duration // 0: none
	dialTimeout     time.Duration
	tcpIdle         time.Duration // 0: none
	udpIdle         time.Duration // 0: none
	keepAlive       time.Duration // < 0: off
	shutdownTimeout time.Duration // 0: cut at once
	proxyProtocol   int
	log             *slog.Logger
}

func (r *Relay) config() (config, error) {
	c := config{
		network:         r.Network,
		target:          r.Target,
		maxConns:        r.MaxConns,
		maxSessions:     r.MaxSessions,
		dialTimeout:     r.DialTimeout,
		keepAlive:       r.KeepAlive,
		shutdownTimeout: r.ShutdownTimeout,
		proxyProtocol:   r.ProxyProtocol,
		log:             r.Logger,
	}
	if c.network == "" {
		c.network = "tcp"
	}
	switch c.network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "both":
	default:
		return c, fmt.Errorf("%w: network %q (want tcp, udp or both)", ErrInvalid, r.Network)
	}
	if _, port, err := net.SplitHostPort(c.target); err != nil || port == "" {
		return c, fmt.Errorf("%w: target %q is not host:port", ErrInvalid, r.Target)
	}
	if len(r.Listeners) == 0 && len(r.PacketConns) == 0 && r.Listen == "" {
		return c, fmt.Errorf("%w: no Listen address and no inherited sockets", ErrInvalid)
	}
	for _, pc := range r.PacketConns {
		if _, ok := pc.(*net.UDPConn); !ok {
			return c, fmt.Errorf("%w: PacketConn %T is not a *net.UDPConn", ErrInvalid, pc)
		}
	}
	for _, p := range r.Allow {
		if !p.IsValid() {
			return c, fmt.Errorf("%w: allowed prefix %v", ErrInvalid, p)
		}
		c.allow = append(c.allow, normalizePrefix(p))
	}
	switch {
	case c.maxConns == 0:
		c.maxConns = DefaultMaxConns
	case c.maxConns < 0:
		c.maxConns = 0
	}
	switch {
	case c.maxSessions == 0:
		c.maxSessions = DefaultMaxSessions
	case c.maxSessions < 0:
		c.maxSessions = 0
	}
	c.maxConnsPerSrc = orDefault(r.MaxConnsPerSource, DefaultMaxConnsPerSource)
	c.maxSessPerSrc = orDefault(r.MaxSessionsPerSource, DefaultMaxSessionsPerSource)
	c.silentTimeout = time.Duration(orDefault(int64(r.SilentTimeout), int64(DefaultSilentTimeout)))
	if c.dialTimeout <= 0 {
		c.dialTimeout = DefaultDialTimeout
	}
	switch {
	case r.IdleTimeout > 0:
		c.tcpIdle, c.udpIdle = r.IdleTimeout, r.IdleTimeout
	case r.IdleTimeout == 0:
		c.udpIdle = DefaultUDPIdleTimeout
	}
	if c.keepAlive == 0 {
		c.keepAlive = DefaultKeepAlive
	}
	switch {
	case c.shutdownTimeout == 0:
		c.shutdownTimeout = DefaultShutdownTimeout
	case c.shutdownTimeout < 0:
		c.shutdownTimeout = 0
	}
	if c.proxyProtocol < 0 || c.proxyProtocol > 2 {
		return c, fmt.Errorf("%w: PROXY protocol version %d (want 0, 1 or 2)", ErrInvalid, r.ProxyProtocol)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// orDefault maps a field's zero to its default and a negative value to 0
// (off).
func orDefault[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (c *config) wantTCP() bool { return c.network == "both" || strings.HasPrefix(c.network, "tcp") }
func (c *config) wantUDP() bool { return c.network == "both" || strings.HasPrefix(c.network, "udp") }
