package relay

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canPark says that waitReadable really waits, so idle directions and UDP
// sessions can give up their goroutine stacks and buffers.
const canPark = true

// waitReadable blocks until the socket behind rc has a byte, an EOF or a
// pending error to report, without consuming anything: the netpoller does
// the waiting and a one-byte MSG_PEEK answers "is there something?". It
// returns an error when the socket is closed or its read deadline passes.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		// Anything but "nothing yet" (data, EOF, ECONNRESET, ECONNREFUSED …)
		// is for the real read to find out.
		return e != unix.EAGAIN
	})
}
