package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// netlinkMaxBytes bounds a routing table dump. A home host's table is a few
// kilobytes; a router with a full Internet table is not our user, and its
// default routes come first in the dump anyway.
const netlinkMaxBytes = 32 << 20

// defaultGateways reads the kernel's routing tables over rtnetlink. Where
// netlink is refused (some sandboxes), it falls back to the /proc files,
// which show only the main table and, on Android 10+, hide gateways.
func defaultGateways() ([]Gateway, error) {
	routes, nlErr := netlinkDefaultRoutes()
	if nlErr == nil {
		return chooseDefaults(routes, ifaceName)
	}
	routes, procErr := procDefaultRoutes()
	if procErr != nil {
		return nil, fmt.Errorf("%w: reading the routing table: %w", ErrNoDefaultRoute, errors.Join(nlErr, procErr))
	}
	return chooseDefaults(routes, ifaceName)
}

// netlinkDefaultRoutes dumps every routing table (RTM_GETROUTE with
// NLM_F_DUMP, all families) and returns the default routes.
func netlinkDefaultRoutes() ([]kernelRoute, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	// The dump is local and quick; the timeout only guarantees that a
	// kernel that never answers cannot block the caller for ever.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}

	const seq = 1
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofRtMsg)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:4], uint32(len(req)))
	ne.PutUint16(req[4:6], unix.RTM_GETROUTE)
	ne.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:12], seq)
	// rtm_family = AF_UNSPEC (0): both IPv4 and IPv6; the rest stays zero.
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("sendto", err)
	}

	var routes []kernelRoute
	buf := make([]byte, 64<<10)
	for total := 0; total < netlinkMaxBytes; {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, os.NewSyscallError("recvfrom", err)
		}
		total += n
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel may answer
		}
		var done bool
		routes, done, err = parseNetlinkRoutes(buf[:n], ne, routes)
		if err != nil {
			return nil, err
		}
		if done {
			return routes, nil
		}
	}
	// The table is larger than the bound: use what was read.
	return routes, nil
}

// procDefaultRoutes reads /proc/net/route and /proc/net/ipv6_route.
func procDefaultRoutes() ([]kernelRoute, error) {
	var routes []kernelRoute
	f4, err4 := os.Open("/proc/net/route")
	if err4 == nil {
		r, err := parseProcNetRoute(f4, binary.NativeEndian)
		f4.Close()
		routes, err4 = append(routes, r...), err
	}
	f6, err6 := os.Open("/proc/net/ipv6_route")
	if err6 == nil {
		r, err := parseProcIPv6Route(f6)
		f6.Close()
		routes, err6 = append(routes, r...), err
	}
	if err4 != nil && err6 != nil {
		return nil, errors.Join(err4, err6)
	}
	return routes, nil
}
