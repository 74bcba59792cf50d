package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// keepaliveRequest is OpenSSH's keepalive: any reply, even a failure, proves
// the server is there (sshd answers failure to requests it does not know).
const keepaliveRequest = "keepalive@openssh.com"

// ErrKeepalive: the server stopped answering keepalives, so the connection
// was taken for dead (the cause in a Lost event).
var ErrKeepalive = errors.New("ssh server stopped answering keepalives")

// keepalive probes the server every interval and closes c after countMax
// probes in a row went unanswered, as OpenSSH's ServerAliveInterval and
// ServerAliveCountMax do; then it returns ErrKeepalive. It returns nil when
// ctx ends or c is closed.
func keepalive(ctx context.Context, wg *sync.WaitGroup, c *ssh.Client, interval time.Duration, countMax int) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	answered := make(chan error, 1)
	pending := false
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-answered:
			pending = false
			if err != nil {
				return nil // the connection is gone; Wait reports it
			}
			misses = 0
		case <-t.C:
			if pending {
				misses++
				if misses >= countMax {
					c.Close()
					return fmt.Errorf("%w (%d in a row, %v apart)", ErrKeepalive, misses, interval)
				}
				continue
			}
			pending = true
			wg.Add(1)
			go sendKeepalive(wg, c, answered)
		}
	}
}

// sendKeepalive sends one keepalive and reports its outcome. It ends when the
// server replies or the connection closes.
func sendKeepalive(wg *sync.WaitGroup, c *ssh.Client, answered chan<- error) {
	defer wg.Done()
	_, _, err := c.SendRequest(keepaliveRequest, true, nil)
	select {
	case answered <- err:
	default:
	}
}
