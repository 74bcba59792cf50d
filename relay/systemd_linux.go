package relay

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// SystemdListeners takes the sockets that socket activation passed to this
// process (systemd .socket units, systemd-socket-activate): LISTEN_PID must be
// this process and LISTEN_FDS says how many descriptors follow stderr. Stream
// sockets come back as listeners, datagram sockets as *net.UDPConn packet
// conns, each in descriptor order, ready for Relay.Listeners and
// Relay.PacketConns. With no sockets passed it returns nil, nil, nil.
//
// It unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that child
// processes do not take the sockets for theirs, and marks the descriptors
// close-on-exec. Call it once: the original descriptors are replaced by the
// returned values, which the caller (or the Relay they are given to) owns.
func SystemdListeners() ([]net.Listener, []net.PacketConn, error) {
	n, err := listenFDs(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getpid())
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if err != nil || n == 0 {
		return nil, nil, err
	}
	var (
		ls  []net.Listener
		pcs []net.PacketConn
	)
	fail := func(err error) ([]net.Listener, []net.PacketConn, error) {
		for _, l := range ls {
			l.Close()
		}
		for _, pc := range pcs {
			pc.Close()
		}
		return nil, nil, err
	}
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		unix.CloseOnExec(fd)
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return fail(fmt.Errorf("%w: inherited descriptor %d is not a socket: %w", ErrInvalid, fd, err))
		}
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		// net.File* duplicate the descriptor; the original goes with f.
		switch typ {
		case unix.SOCK_STREAM:
			l, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return fail(fmt.Errorf("relay: inherited descriptor %d: %w", fd, err))
			}
			ls = append(ls, l)
		case unix.SOCK_DGRAM:
			pc, err := net.FilePacketConn(f)
			f.Close()
			if err != nil {
				return fail(fmt.Errorf("relay: inherited descriptor %d: %w", fd, err))
			}
			pcs = append(pcs, pc)
		default:
			f.Close()
			return fail(fmt.Errorf("%w: inherited descriptor %d has socket type %d (want stream or datagram)", ErrInvalid, fd, typ))
		}
	}
	return ls, pcs, nil
}
