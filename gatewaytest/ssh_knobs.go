package gatewaytest

// The fake SSH server's knobs, and what tests read back from it.

import (
	"net/netip"
	"slices"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

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

// Channels counts the channels clients opened, by type (direct-tcpip for a
// local forward, ssh -L, and for sshfwd's GatewayPorts check).
func (s *SSHServer) Channels(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[kind]
}
