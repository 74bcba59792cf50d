package sshfwd

import (
	"os"
	"os/user"
	"path/filepath"
)

// homeDir is where .ssh lives. OpenSSH reads it from the passwd entry, not
// $HOME (they differ under sudo and in some service managers), so that is
// tried first.
func (c *Config) homeDir() string {
	if c.HomeDir != "" {
		return c.HomeDir
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	h, _ := os.UserHomeDir()
	return h
}

// userName is the login name: the target's, else the current user's.
func (c *Config) userName() string {
	if c.Server.User != "" {
		return c.Server.User
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// knownHostsFiles are the files host keys are checked against.
func (c *Config) knownHostsFiles() []string {
	if c.KnownHosts != nil {
		return c.KnownHosts
	}
	return []string{filepath.Join(c.homeDir(), ".ssh", "known_hosts")}
}
