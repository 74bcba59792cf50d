package sshfwd

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck builds the host key callback from the known_hosts files
// (missing files count as empty) and the host key algorithms to ask for:
// those of the keys known for addr, so that a server with several keys
// offers the one we know rather than a mismatch.
func (c *Config) hostKeyCheck(addr string) (ssh.HostKeyCallback, []string, error) {
	var files []string
	for _, f := range c.knownHostsFiles() {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	check, err := knownhosts.New(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	file := c.knownHostsFiles()[0]
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		if err == nil {
			return nil
		}
		return hostKeyError(hostname, file, key, err)
	}
	return cb, knownAlgorithms(check, addr), nil
}

// hostKeyError turns knownhosts' verdict into a *HostKeyError.
func hostKeyError(hostname, file string, key ssh.PublicKey, err error) error {
	e := &HostKeyError{
		Host:        knownhosts.Normalize(hostname),
		Fingerprint: fingerprint(key),
		KeyType:     key.Type(),
		Line:        knownhosts.Line([]string{hostname}, key),
		File:        file,
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		e.Kind = ErrHostKeyRevoked
	case errors.As(err, &ke) && len(ke.Want) > 0:
		e.Kind = ErrHostKeyChanged
		for _, k := range ke.Want {
			e.Known = append(e.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
		}
	case errors.As(err, &ke):
		e.Kind = ErrUnknownHost
	default:
		return fmt.Errorf("ssh host key check: %w", err)
	}
	return e
}

// probeKey is a key no known_hosts file can hold, offered to the callback
// only to learn which keys it knows for a host.
var probeKey ssh.PublicKey = probePublicKey{}

type probePublicKey struct{}

func (probePublicKey) Type() string                        { return "sshfwd-probe" }
func (probePublicKey) Marshal() []byte                     { return []byte("sshfwd-probe") }
func (probePublicKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// knownAlgorithms lists the host key algorithms for the keys known for
// addr, nil when none are (then the library's defaults apply).
func knownAlgorithms(check ssh.HostKeyCallback, addr string) []string {
	err := check(addr, &net.TCPAddr{IP: net.IPv4zero, Port: 22}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algs []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, s := range a {
			if !seen[s] {
				seen[s] = true
				algs = append(algs, s)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algs
}
