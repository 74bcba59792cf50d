package relay

import "golang.org/x/sys/unix"

// hasUnread reports whether bytes wait in the socket's receive queue that the
// relay has not read yet: a connection whose first bytes just arrived has
// spoken, even though no copy has counted them.
func hasUnread(c halfConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if err := raw.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	}); err != nil {
		return false
	}
	return n > 0
}
