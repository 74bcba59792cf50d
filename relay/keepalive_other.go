//go:build !linux

package relay

import (
	"syscall"
	"time"
)

// tuneListener reports false: whether accepted sockets inherit keepalive
// options from the listener differs between systems, so each accepted
// connection is tuned on its own (see tuneTCP).
func tuneListener(syscall.RawConn, time.Duration) bool { return false }
