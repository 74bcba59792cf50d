package gatewaytest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHConfig configures an SSHServer, a fake OpenSSH server for the SSH
// fallback's tests. It speaks the forwarding part of RFC 4254 (tcpip-forward,
// cancel-tcpip-forward, forwarded-tcpip, direct-tcpip) and answers OpenSSH's
// keepalive@openssh.com, with public key authentication only.
type SSHConfig struct {
	// AuthorizedKeys are the client keys accepted (authorized_keys). Nil
	// accepts none.
	AuthorizedKeys []ssh.PublicKey
	// LoopbackOnly binds every remote forward to 127.0.0.1 whatever the
	// client asks, and still replies success: sshd's default GatewayPorts no.
	// Otherwise a request for every address ("", "0.0.0.0", "*") binds the
	// server's own address (Addr), which plays its public address.
	LoopbackOnly bool
	// RefuseForwards answers no to every tcpip-forward (a port in use, or
	// AllowTcpForwarding no).
	RefuseForwards bool
}

// sshDialTimeout bounds the fake server's dial for a direct-tcpip channel.
const sshDialTimeout = 5 * time.Second

// SSHServer is an in-process SSH server on a fresh loopback address.
type SSHServer struct {
	ln   net.Listener
	addr netip.AddrPort
	wg   sync.WaitGroup

	mu       sync.Mutex
	cfg      SSHConfig
	hostKey  ssh.Signer
	sessions map[*sshSession]struct{}
	requests map[string]int
	channels map[string]int // channel opens from clients, by type
	closed   bool
}

// sshSession is one client connection and the forwards it holds.
type sshSession struct {
	conn     *ssh.ServerConn
	raw      net.Conn
	mu       sync.Mutex
	forwards map[string]net.Listener // "bind:port" as requested -> listener
	conns    map[net.Conn]struct{}   // TCP ends of its channels
	frozen   bool                    // answers nothing, as if the client's path went silent
	released chan struct{}           // closed by DropConnections
	once     sync.Once
}

// release lets a frozen session end.
func (ss *sshSession) release() { ss.once.Do(func() { close(ss.released) }) }

// track registers c to be closed with the session; false if it has ended.
func (ss *sshSession) track(c net.Conn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.conns == nil {
		c.Close()
		return false
	}
	ss.conns[c] = struct{}{}
	return true
}

func (ss *sshSession) untrack(c net.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.conns, c)
}

// StartSSH starts an SSHServer on a fresh 127.x.y.z address and an ephemeral
// port. Close it when done.
func StartSSH(cfg SSHConfig) (*SSHServer, error) {
	key, err := newHostKey()
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	for range bindAttempts {
		a := randomLoopback()
		if !claim(a) {
			continue
		}
		if ln, err = net.Listen("tcp4", netip.AddrPortFrom(a, 0).String()); err == nil {
			break
		}
	}
	if ln == nil {
		return nil, fmt.Errorf("gatewaytest: ssh server: no free loopback address: %w", err)
	}
	s := &SSHServer{
		ln:       ln,
		addr:     netip.MustParseAddrPort(ln.Addr().String()),
		cfg:      cfg,
		hostKey:  key,
		sessions: map[*sshSession]struct{}{},
		requests: map[string]int{},
		channels: map[string]int{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// NewSSH starts an SSHServer that t's cleanup closes.
func NewSSH(t TB, cfg SSHConfig) *SSHServer {
	t.Helper()
	s, err := StartSSH(cfg)
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newHostKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// NewSSHKey returns a fresh ed25519 client key, for AuthorizedKeys and the
// client's configuration.
func NewSSHKey(t TB) ssh.Signer {
	t.Helper()
	k, err := newHostKey()
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	return k
}

// Addr is the server's address and port (what a client dials, and the
// "public" address of forwards for every address).
func (s *SSHServer) Addr() netip.AddrPort { return s.addr }

// Close stops the server, drops every connection and forward, and waits for
// its goroutines.
func (s *SSHServer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
	return err
}

func (s *SSHServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// serveConn runs one client connection until it ends.
func (s *SSHServer) serveConn(raw net.Conn) {
	defer s.wg.Done()
	s.mu.Lock()
	conf := &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	conf.AddHostKey(s.hostKey)
	s.mu.Unlock()
	raw.SetDeadline(time.Now().Add(sshDialTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(raw, conf)
	if err != nil {
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	ss := &sshSession{conn: conn, raw: raw, forwards: map[string]net.Listener{}, conns: map[net.Conn]struct{}{}, released: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(2)
	go s.serveRequests(ss, reqs)
	go s.serveChannels(ss, chans)
	conn.Wait()
	ss.mu.Lock()
	frozen := ss.frozen
	ss.mu.Unlock()
	if frozen {
		// The client's goodbye never reached this server: the session and
		// its forwards live on until DropConnections.
		<-ss.released
	}
	// As sshd does: when the connection ends, its forwards stop listening.
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	ss.mu.Lock()
	for k, ln := range ss.forwards {
		ln.Close()
		delete(ss.forwards, k)
	}
	for c := range ss.conns {
		c.Close()
	}
	ss.conns = nil
	ss.mu.Unlock()
}

func (s *SSHServer) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.cfg.AuthorizedKeys {
		if string(k.Marshal()) == string(key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("key not authorized")
}
