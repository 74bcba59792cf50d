package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ErrAuth: the server accepted none of the keys offered.
var ErrAuth = errors.New("ssh: server accepted none of the keys")

// connect opens one authenticated SSH connection to the server, bounded by
// ctx and DialTimeout.
func (f *Forward) connect(ctx context.Context) (*ssh.Client, error) {
	cfg := &f.cfg
	if cfg.Server.Host == "" {
		return nil, fmt.Errorf("%w: Config.Server names no host", ErrBadTarget)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	addr := cfg.Server.Addr()
	check, algs, err := cfg.hostKeyCheck(addr)
	if err != nil {
		return nil, err
	}
	signers, done, err := cfg.signers(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	conn, err := cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh: connect to %s: %w", addr, err)
	}
	// The handshake has no context of its own: closing the connection is
	// what unblocks it when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              cfg.userName(),
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   check,
		HostKeyAlgorithms: algs,
	})
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fmt.Errorf("ssh: connect to %s: %w", addr, context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("%w as %q at %s: %w", ErrAuth, cfg.userName(), addr, cleaned("", err))
		}
		return nil, cleaned("ssh: "+addr+": ", err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// request sends a global request bounded by ctx. x/crypto's SendRequest
// waits for the reply without a context; when ctx ends first, the
// connection is closed, which is the only way to unblock it, and the caller
// treats the connection as lost.
func request(ctx context.Context, c *ssh.Client, name string, payload []byte) (bool, []byte, error) {
	res := make(chan reply, 1)
	go sendRequest(c, name, payload, res)
	select {
	case r := <-res:
		return r.ok, r.data, r.err
	case <-ctx.Done():
		c.Close()
		<-res // SendRequest returns once the connection is closed
		return false, nil, context.Cause(ctx)
	}
}

// reply is a global request's outcome.
type reply struct {
	ok   bool
	data []byte
	err  error
}

// sendRequest sends one global request, wanting a reply, and delivers it.
func sendRequest(c *ssh.Client, name string, payload []byte, res chan<- reply) {
	ok, data, err := c.SendRequest(name, true, payload)
	res <- reply{ok, data, err}
}
