//go:build linux

package upnpmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// probeUpstream sends the TTL-limited probe (see upstream_probe.go) from
// local, the address facing gw, and returns the address of the first ICMP
// error's sender that is neither gw nor this machine: the upstream router.
func probeUpstream(ctx context.Context, gw, local netip.Addr) (netip.Addr, error) {
	if !gw.Is4() || !local.Is4() {
		return netip.Addr{}, errors.New("the upstream probe is IPv4 only")
	}
	ctx, cancel := context.WithTimeout(ctx, upstreamProbeWait)
	defer cancel()
	conn, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), net.UDPAddrFromAddrPort(upstreamProbeDest))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upstream probe: %w", err)
	}
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upstream probe: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, upstreamProbeTTL)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		}
	}); err != nil || serr != nil {
		return netip.Addr{}, fmt.Errorf("upstream probe: socket options: %w", errors.Join(err, serr))
	}
	for i := 0; i < upstreamProbeCount; i++ {
		if _, err := conn.Write(upstreamProbePayload); err != nil && !isICMPErr(err) {
			return netip.Addr{}, fmt.Errorf("upstream probe: %w", err)
		}
		until := time.Now().Add(upstreamProbeGap)
		if d, ok := ctx.Deadline(); ok && (i == upstreamProbeCount-1 || d.Before(until)) {
			until = d
		}
		if a, err := readOffender(rc, conn, until, gw, local); err != nil || a.IsValid() {
			return a, err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return netip.Addr{}, errors.New("no ICMP answer from beyond the gateway to a TTL-2 probe")
}

// isICMPErr says whether err is an earlier ICMP error that the socket
// reports on a later call (a connected UDP socket does): not a failure.
func isICMPErr(err error) bool {
	return errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENETUNREACH)
}

// readOffender reads the socket's error queue until one ICMP error names an
// offender other than gw and local, or until the deadline (then the zero
// Addr and no error).
func readOffender(rc interface {
	Read(func(fd uintptr) bool) error
}, conn *net.UDPConn, until time.Time, gw, local netip.Addr) (netip.Addr, error) {
	if err := conn.SetReadDeadline(until); err != nil {
		return netip.Addr{}, err
	}
	var found netip.Addr
	buf := make([]byte, 64)
	oob := make([]byte, 512)
	err := rc.Read(func(fd uintptr) bool {
		for {
			_, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				return !errors.Is(err, unix.EAGAIN) // EAGAIN: wait for more
			}
			a, ok := offender(oob[:oobn])
			if ok && a != gw && a != local {
				found = a
				return true
			}
		}
	})
	if found.IsValid() {
		return found, nil
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !isTimeout(err) {
		return netip.Addr{}, fmt.Errorf("upstream probe: %w", err)
	}
	return netip.Addr{}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// offender parses an IP_RECVERR control message: a struct
// sock_extended_err (errno u32, origin, type, code, pad u8, info, data u32)
// then the offender's struct sockaddr_in (SO_EE_OFFENDER). Only ICMP
// time exceeded (11) and destination unreachable (3) count.
func offender(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP || m.Header.Type != unix.IP_RECVERR {
			continue
		}
		d := m.Data
		if len(d) < 16+8 || d[4] != unix.SO_EE_ORIGIN_ICMP || (d[5] != 11 && d[5] != 3) {
			continue
		}
		sa := d[16:]
		if binary.NativeEndian.Uint16(sa[0:2]) != unix.AF_INET {
			continue
		}
		a := netip.AddrFrom4([4]byte(sa[4:8]))
		if a.IsUnspecified() {
			continue
		}
		return a, true
	}
	return netip.Addr{}, false
}
