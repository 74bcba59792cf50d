package relay

import (
	"fmt"
	"strconv"
)

// maxListenFDs bounds LISTEN_FDS: systemd passes a handful, and a larger
// number is a corrupted or hostile environment, not a reason to walk the
// descriptor table.
const maxListenFDs = 1024

// listenFDs interprets LISTEN_PID and LISTEN_FDS as sd_listen_fds(3) does:
// the sockets are for this process only if LISTEN_PID is its pid; otherwise,
// or when LISTEN_PID is unset, none were passed. It returns how many
// descriptors start at 3, or an error for values that are not plain decimal
// numbers in range.
func listenFDs(pid, fds string, self int) (int, error) {
	if pid == "" {
		return 0, nil
	}
	p, err := strconv.ParseUint(pid, 10, 31)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%w: LISTEN_PID=%q", ErrInvalid, pid)
	}
	if int(p) != self {
		return 0, nil
	}
	n, err := strconv.ParseUint(fds, 10, 31)
	if err != nil || n > maxListenFDs {
		return 0, fmt.Errorf("%w: LISTEN_FDS=%q", ErrInvalid, fds)
	}
	return int(n), nil
}
