package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentities are the key files OpenSSH tries when none is named, in
// its order.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// maxKeyFile bounds a private key read from disk; real ones are a few KiB.
const maxKeyFile = 1 << 20

// signers gathers the keys to offer, as OpenSSH does: the named ones only,
// else the agent's and then the default identity files. The returned func
// closes the agent connection; call it after the handshake.
func (c *Config) signers(ctx context.Context) ([]ssh.Signer, func(), error) {
	noop := func() {}
	if len(c.Signers) > 0 {
		return c.Signers, noop, nil
	}
	if c.KeyFile != "" {
		s, err := loadKey(c.KeyFile)
		if err != nil {
			return nil, noop, err
		}
		return []ssh.Signer{s}, noop, nil
	}
	var out []ssh.Signer
	done := noop
	if sock := c.agentSocket(); sock != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			c.Logger.Debug("ssh-agent unreachable", "socket", sock, "err", err)
		} else {
			done = func() { conn.Close() }
			ss, err := agent.NewClient(conn).Signers()
			if err != nil {
				c.Logger.Debug("ssh-agent gave no keys", "err", err)
			}
			out = append(out, ss...)
		}
	}
	var locked error
	for _, name := range defaultIdentities {
		path := filepath.Join(c.homeDir(), ".ssh", name)
		s, err := loadKey(path)
		switch {
		case err == nil:
			out = append(out, s)
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, ErrPassphrase):
			c.Logger.Debug("skipping passphrase-protected key", "file", path)
			if locked == nil {
				locked = err
			}
		default:
			c.Logger.Warn("unusable identity file", "file", path, "err", err)
		}
	}
	if len(out) == 0 {
		done()
		if locked != nil {
			return nil, noop, locked
		}
		return nil, noop, ErrNoKeys
	}
	return out, done, nil
}

func (c *Config) agentSocket() string {
	if c.NoAgent {
		return ""
	}
	if c.AgentSocket != "" {
		return c.AgentSocket
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

// loadKey reads a private key file. It never asks for a passphrase: a
// protected key is ErrPassphrase.
func loadKey(path string) (ssh.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxKeyFile+1)
	n, _ := io.ReadFull(f, buf)
	if n > maxKeyFile {
		return nil, fmt.Errorf("ssh key %s: larger than %d bytes", path, maxKeyFile)
	}
	s, err := ssh.ParsePrivateKey(buf[:n])
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, fmt.Errorf("%w: %s", ErrPassphrase, path)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", path, err)
	}
	return s, nil
}
