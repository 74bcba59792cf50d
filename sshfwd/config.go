package sshfwd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults for the Config fields left zero.
const (
	// DefaultKeepaliveInterval is how often an idle connection is probed, as
	// OpenSSH's ServerAliveInterval.
	DefaultKeepaliveInterval = 15 * time.Second
	// DefaultKeepaliveCountMax is how many probes in a row may go unanswered
	// before the connection is taken for dead (ServerAliveCountMax).
	DefaultKeepaliveCountMax = 3
	// DefaultDialTimeout bounds one connection attempt: TCP connect, SSH
	// handshake, authentication and the forward request.
	DefaultDialTimeout = 20 * time.Second
	// DefaultBackoffMin is the first wait before reconnecting.
	DefaultBackoffMin = time.Second
	// DefaultBackoffMax caps the wait between reconnection attempts.
	DefaultBackoffMax = time.Minute
	// DefaultCloseTimeout bounds Close: cancelling the forward on the server
	// and waiting for the relays to end.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultProbeTimeout bounds the GatewayPorts check after a forward.
	DefaultProbeTimeout = 5 * time.Second
)

// Config says which server to use and how. Server is required; every other
// field has a working zero value.
type Config struct {
	// Server is the SSH server (see ParseTarget). An empty User is the
	// current user's name.
	Server Target

	// KeyFile names a private key to authenticate with, as ssh -i. When set,
	// it is the only key tried. A passphrase-protected key is ErrPassphrase.
	KeyFile string
	// Signers, when not empty, are the only keys tried (for programs that
	// hold their keys in memory). They take precedence over KeyFile.
	Signers []ssh.Signer
	// AgentSocket is the ssh-agent socket; "" means $SSH_AUTH_SOCK. The
	// agent's keys are tried first, then the default identity files, unless
	// KeyFile or Signers is set.
	AgentSocket string
	// NoAgent skips the agent.
	NoAgent bool
	// HomeDir is where .ssh/ is found; "" means the current user's home from
	// the passwd entry (as OpenSSH does), else $HOME.
	HomeDir string
	// KnownHosts lists known_hosts files; nil means HomeDir/.ssh/known_hosts.
	// Files that do not exist count as empty. The host key is always
	// checked; there is no way to skip it.
	KnownHosts []string

	// BindAddress is the address the server should listen on for a remote
	// forward. "" asks for every address (with GatewayPorts
	// clientspecified); "localhost" asks for loopback only.
	BindAddress string
	// RemotePort is the port to ask the server for; 0 lets the server choose.
	// After the first success, reconnections ask for the port obtained.
	RemotePort uint16
	// SkipGatewayPortsCheck turns off the check that a remote forward is
	// reachable on the server's address (for servers whose public address
	// is not on their interface, e.g. behind a cloud provider's NAT, where
	// only an outside check can tell).
	SkipGatewayPortsCheck bool

	// KeepaliveInterval is the time between keepalives; 0 means
	// DefaultKeepaliveInterval, negative turns keepalives off.
	KeepaliveInterval time.Duration
	// KeepaliveCountMax is how many keepalives may go unanswered in a row;
	// 0 means DefaultKeepaliveCountMax.
	KeepaliveCountMax int
	// DialTimeout bounds one connection attempt; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnection attempts,
	// doubled after each failure with up to half of it added at random;
	// 0 means DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// CloseTimeout bounds Close; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// ProbeTimeout bounds the GatewayPorts check; 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration

	// Dial opens the TCP connection to the server and to targets (nil means
	// a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with the zero fields filled in.
func (c Config) withDefaults() Config {
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.KeepaliveCountMax <= 0 {
		c.KeepaliveCountMax = DefaultKeepaliveCountMax
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}
