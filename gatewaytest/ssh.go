package gatewaytest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
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

// HostKey is the server's current host key.
func (s *SSHServer) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey.PublicKey()
}

// KnownHostsLine is the known_hosts line for the current host key, in the
// [host]:port form OpenSSH writes for a port other than 22.
func (s *SSHServer) KnownHostsLine() string {
	return knownhosts.Line([]string{s.addr.String()}, s.HostKey())
}

// ChangeHostKey gives the server a new host key for new connections, as a
// reinstalled server (or a man in the middle) would have.
func (s *SSHServer) ChangeHostKey() error {
	k, err := newHostKey()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hostKey = k
	s.mu.Unlock()
	return nil
}

// SetLoopbackOnly changes SSHConfig.LoopbackOnly for later forwards.
func (s *SSHServer) SetLoopbackOnly(on bool) {
	s.mu.Lock()
	s.cfg.LoopbackOnly = on
	s.mu.Unlock()
}

// SetRefuseForwards changes SSHConfig.RefuseForwards for later requests.
func (s *SSHServer) SetRefuseForwards(on bool) {
	s.mu.Lock()
	s.cfg.RefuseForwards = on
	s.mu.Unlock()
}

// DropConnections kills every client connection at once, as an sshd restart
// does; their forwards stop listening with them. It returns how many there
// were.
func (s *SSHServer) DropConnections() int {
	s.mu.Lock()
	list := make([]*sshSession, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.raw.Close()
		ss.release()
	}
	return len(list)
}

// FreezeConnections makes every current connection silent, as when the
// client's network drops packets without a reset: its global requests
// (keepalives included) get no answer, yet the session and its forwards
// stay, holding their ports, even after the client closes its end (its FIN
// is lost too), the way sshd keeps a session until ClientAliveInterval or
// TCP keepalive notices. DropConnections ends them.
func (s *SSHServer) FreezeConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.mu.Lock()
		ss.frozen = true
		ss.mu.Unlock()
	}
}

// Sessions is the number of connected, authenticated clients.
func (s *SSHServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Forwards lists the addresses the server listens on for remote forwards,
// sorted.
func (s *SSHServer) Forwards() []netip.AddrPort {
	s.mu.Lock()
	var out []netip.AddrPort
	for ss := range s.sessions {
		ss.mu.Lock()
		for _, ln := range ss.forwards {
			out = append(out, netip.MustParseAddrPort(ln.Addr().String()))
		}
		ss.mu.Unlock()
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Requests counts the global requests received by name (tcpip-forward,
// cancel-tcpip-forward, keepalive@openssh.com, ...).
func (s *SSHServer) Requests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[name]
}

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

// sshForwardMsg is the payload of tcpip-forward and cancel-tcpip-forward.
type sshForwardMsg struct {
	Addr string
	Port uint32
}

// sshForwardedMsg is a forwarded-tcpip channel's extra data.
type sshForwardedMsg struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (s *SSHServer) serveRequests(ss *sshSession, reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	for r := range reqs {
		s.mu.Lock()
		s.requests[r.Type]++
		cfg := s.cfg
		s.mu.Unlock()
		ss.mu.Lock()
		frozen := ss.frozen
		ss.mu.Unlock()
		if frozen {
			continue
		}
		switch r.Type {
		case "tcpip-forward":
			var m sshForwardMsg
			if ssh.Unmarshal(r.Payload, &m) != nil || m.Port > 65535 || cfg.RefuseForwards {
				r.Reply(false, nil)
				continue
			}
			port, ok := s.listenForward(ss, m, cfg.LoopbackOnly)
			if !ok {
				r.Reply(false, nil)
				continue
			}
			var reply []byte
			if m.Port == 0 {
				reply = ssh.Marshal(&struct{ Port uint32 }{uint32(port)})
			}
			r.Reply(true, reply)
		case "cancel-tcpip-forward":
			var m sshForwardMsg
			if ssh.Unmarshal(r.Payload, &m) != nil {
				r.Reply(false, nil)
				continue
			}
			key := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
			ss.mu.Lock()
			ln, ok := ss.forwards[key]
			delete(ss.forwards, key)
			ss.mu.Unlock()
			if ok {
				ln.Close()
			}
			r.Reply(ok, nil)
		default:
			// sshd answers failure to requests it does not know, including
			// keepalive@openssh.com; any answer proves it is alive.
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
}

// listenForward binds the forward's listener and serves it.
func (s *SSHServer) listenForward(ss *sshSession, m sshForwardMsg, loopbackOnly bool) (uint16, bool) {
	ip := s.addr.Addr()
	switch {
	case loopbackOnly || m.Addr == "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case m.Addr == "" || m.Addr == "0.0.0.0" || m.Addr == "*":
	default:
		a, err := netip.ParseAddr(m.Addr)
		if err != nil || !a.IsLoopback() {
			return 0, false // a fake server binds nothing but loopback
		}
		ip = a
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, uint16(m.Port)).String())
	if err != nil {
		return 0, false
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	key := net.JoinHostPort(m.Addr, strconv.Itoa(int(port)))
	ss.mu.Lock()
	ss.forwards[key] = ln
	ss.mu.Unlock()
	s.wg.Add(1)
	go s.serveForward(ss, ln, m.Addr, port)
	return port, true
}

// serveForward hands each connection on a forward's listener to the client
// as a forwarded-tcpip channel.
func (s *SSHServer) serveForward(ss *sshSession, ln net.Listener, bind string, port uint16) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		origin := c.RemoteAddr().(*net.TCPAddr)
		extra := ssh.Marshal(&sshForwardedMsg{bind, uint32(port), origin.IP.String(), uint32(origin.Port)})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ch, reqs, err := ss.conn.OpenChannel("forwarded-tcpip", extra)
			if err != nil {
				c.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			if !ss.track(c) {
				ch.Close()
				return
			}
			defer ss.untrack(c)
			sshPipe(ch, c)
		}()
	}
}

// sshDirectMsg is a direct-tcpip channel's extra data.
type sshDirectMsg struct {
	Host       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (s *SSHServer) serveChannels(ss *sshSession, chans <-chan ssh.NewChannel) {
	defer s.wg.Done()
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			nc.Reject(ssh.UnknownChannelType, "only direct-tcpip")
			continue
		}
		var m sshDirectMsg
		if ssh.Unmarshal(nc.ExtraData(), &m) != nil || m.Port > 65535 {
			nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c, err := net.DialTimeout("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))), sshDialTimeout)
			if err != nil {
				nc.Reject(ssh.ConnectionFailed, "connect failed")
				return
			}
			ch, reqs, err := nc.Accept()
			if err != nil {
				c.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			if !ss.track(c) {
				ch.Close()
				return
			}
			defer ss.untrack(c)
			sshPipe(ch, c)
		}()
	}
}

// sshPipe copies both ways between a channel and a TCP connection, passing
// on half-closes, and closes both at the end.
func sshPipe(ch ssh.Channel, c net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(ch, c)
		ch.CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, ch)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	ch.Close()
	c.Close()
}
