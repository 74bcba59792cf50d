package sshfwd

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

var (
	// ErrUnknownHost: the server's host key is in no known_hosts file. The
	// error is a *HostKeyError that names the line to add.
	ErrUnknownHost = errors.New("ssh: host key not known")
	// ErrHostKeyChanged: known_hosts holds another key for this server. It may
	// have been reinstalled, or someone may be in the middle. The error is a
	// *HostKeyError.
	ErrHostKeyChanged = errors.New("ssh: host key changed")
	// ErrHostKeyRevoked: the server's key is marked @revoked in known_hosts.
	ErrHostKeyRevoked = errors.New("ssh: host key revoked")
	// ErrPassphrase: the only usable key is protected by a passphrase. The
	// library never prompts: load the key into ssh-agent.
	ErrPassphrase = errors.New("ssh: key is protected by a passphrase (add it to ssh-agent)")
	// ErrNoKeys: neither the agent nor any identity file offered a key.
	ErrNoKeys = errors.New("ssh: no key to authenticate with (no agent, no identity file)")
	// ErrForwardRefused: the server answered no to tcpip-forward (the port is
	// taken, held by a stale session, or forwarding is disabled). It also
	// matches errs.Refused, as every refusal in this module does.
	ErrForwardRefused = errors.New("ssh server refused the remote forward")
	// ErrPortHeld: reconnecting, the server refused the port this Forward
	// held before. Usually the old session is still alive on the server
	// (the client vanished without a reset) and keeps the port until sshd
	// notices (ClientAliveInterval, or TCP keepalive after hours). The
	// Forward keeps asking with backoff. It also matches ErrForwardRefused.
	ErrPortHeld = errors.New("port still held by a stale session on the ssh server")
	// ErrLoopbackOnly: the server accepted the forward but bound it to its
	// loopback interface only, so nobody outside can reach it. The fix is
	// one line in the server's sshd_config (see GatewayPortsLine).
	ErrLoopbackOnly = errors.New("ssh server bound the forward to loopback only")
	// ErrBadTarget: a ssh:// target could not be parsed.
	ErrBadTarget = errors.New("bad ssh target")
	// ErrClosed: the Forward was closed.
	ErrClosed = errors.New("ssh forward closed")
)

// GatewayPortsLine is the sshd_config line a server needs so that a remote
// forward can listen on its public address; ErrLoopbackOnly's message names
// it. "yes" would do too, but clientspecified lets other users keep
// loopback-only forwards.
const GatewayPortsLine = "GatewayPorts clientspecified"

// refused is the error of a refused tcpip-forward for port.
func refused(bind string, port uint16) error {
	return fmt.Errorf("%w (%w): bind %q port %d", ErrForwardRefused, errs.Refused, bind, port)
}

// loopbackOnly is the error of a forward that only the server's loopback
// reaches.
func loopbackOnly(server string, port uint16) error {
	return fmt.Errorf("%w: %s:%d is not reachable on the server's address; add %q to /etc/ssh/sshd_config on %s and reload sshd",
		ErrLoopbackOnly, server, port, GatewayPortsLine, server)
}

// HostKeyError says why the server's host key was not accepted, with what a
// user needs to decide: the key's fingerprint, and the known_hosts line that
// would accept it (to be added only after checking the fingerprint with the
// server's administrator, e.g. ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).
type HostKeyError struct {
	// Host is the server as known_hosts names it: host, or [host]:port when
	// the port is not 22.
	Host string
	// Fingerprint is the server key's SHA256 fingerprint ("SHA256:...").
	Fingerprint string
	// KeyType is the server key's algorithm, e.g. "ssh-ed25519".
	KeyType string
	// Line is the known_hosts line that accepts the key.
	Line string
	// File is the known_hosts file the line belongs in.
	File string
	// Known lists where the keys known for Host are (file:line), for a
	// changed key.
	Known []string
	// Kind is ErrUnknownHost, ErrHostKeyChanged or ErrHostKeyRevoked.
	Kind error
}

func (e *HostKeyError) Error() string {
	var b strings.Builder
	switch e.Kind {
	case ErrHostKeyChanged:
		fmt.Fprintf(&b, "ssh: host key for %s changed: the server offers %s key %s, known_hosts has another (%s). If the server was reinstalled, remove the old entry (ssh-keygen -R %q) and add: %s",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "), e.Host, e.Line)
	case ErrHostKeyRevoked:
		fmt.Fprintf(&b, "ssh: host key %s for %s is revoked in known_hosts", e.Fingerprint, e.Host)
	default:
		fmt.Fprintf(&b, "ssh: host %s is not in known_hosts; its %s key is %s. After checking the fingerprint with the server, add this line to %s: %s",
			e.Host, e.KeyType, e.Fingerprint, e.File, e.Line)
	}
	return b.String()
}

// Unwrap returns e.Kind.
func (e *HostKeyError) Unwrap() error { return e.Kind }

// fingerprint is OpenSSH's SHA256 fingerprint of key.
func fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// serverText is an error whose message may carry text the server chose (a
// disconnect reason, a channel rejection): its message is cleaned of
// control and bidi characters and capped, while errors.Is and errors.As
// still see the original.
type serverText struct {
	prefix string
	err    error
}

func (e *serverText) Error() string {
	return e.prefix + safetext.Clean(e.err.Error(), safetext.Long)
}

func (e *serverText) Unwrap() error { return e.err }

// cleaned wraps err, which may quote the server, behind prefix.
func cleaned(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return &serverText{prefix: prefix, err: err}
}
