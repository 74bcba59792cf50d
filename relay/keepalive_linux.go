package relay

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tuneListener applies the keepalive setting to a TCP socket before it
// listens. Linux copies SO_KEEPALIVE, TCP_KEEPIDLE and TCP_KEEPINTVL from the
// listener to every socket it accepts (and arms the keepalive timer), so the
// client leg of each connection gets the setting without the three
// setsockopt calls per connection that tuneTCP would make. A socket takes
// the options of its listener when the handshake completes, not at accept,
// so this is only right before the first connection can arrive: inherited
// listeners are tuned per connection instead. It reports false when an option
// was refused; then, too, each accepted connection is tuned on its own.
func tuneListener(raw syscall.RawConn, ka time.Duration) bool {
	var optErr error
	err := raw.Control(func(fd uintptr) {
		s := int(fd)
		if ka <= 0 {
			optErr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
			return
		}
		// Whole seconds, rounded up, as net.TCPConn.SetKeepAliveConfig does.
		secs := int((ka + time.Second - 1) / time.Second)
		for _, o := range [...]struct{ level, opt, v int }{
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs},
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		} {
			if optErr = unix.SetsockoptInt(s, o.level, o.opt, o.v); optErr != nil {
				return
			}
		}
	})
	return err == nil && optErr == nil
}
