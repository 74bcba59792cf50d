//go:build linux

package upnpmap

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvErr builds the control message Linux attaches to an error-queue read
// on a socket with IP_RECVERR: a struct sock_extended_err from origin, ICMP
// type and code, and the offender's struct sockaddr_in.
func recvErr(origin, icmpType, code byte, from netip.Addr) []byte {
	data := make([]byte, 16+16)
	binary.NativeEndian.PutUint32(data[0:], uint32(unix.EHOSTUNREACH))
	data[4], data[5], data[6] = origin, icmpType, code
	binary.NativeEndian.PutUint16(data[16:], unix.AF_INET)
	a := from.As4()
	copy(data[20:], a[:])
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_RECVERR
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

// TestOffender: the upstream router is the sender of an ICMP time exceeded
// or destination unreachable; other origins and types are not it.
func TestOffender(t *testing.T) {
	up := netip.MustParseAddr("10.77.0.1")
	for _, tc := range []struct {
		name string
		oob  []byte
		want netip.Addr
	}{
		{"time exceeded", recvErr(unix.SO_EE_ORIGIN_ICMP, 11, 0, up), up},
		{"unreachable", recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 1, up), up},
		{"echo reply is no error", recvErr(unix.SO_EE_ORIGIN_ICMP, 0, 0, up), netip.Addr{}},
		{"local error", recvErr(unix.SO_EE_ORIGIN_LOCAL, 11, 0, up), netip.Addr{}},
		{"unspecified sender", recvErr(unix.SO_EE_ORIGIN_ICMP, 11, 0, netip.IPv4Unspecified()), netip.Addr{}},
		{"truncated", recvErr(unix.SO_EE_ORIGIN_ICMP, 11, 0, up)[:20], netip.Addr{}},
		{"empty", nil, netip.Addr{}},
	} {
		a, ok := offender(tc.oob)
		if a != tc.want || ok != tc.want.IsValid() {
			t.Errorf("%s: %v %v, want %v", tc.name, a, ok, tc.want)
		}
	}
}

// FuzzOffender: the error queue's control data is what the kernel makes of
// an ICMP packet from the network: never a panic.
func FuzzOffender(f *testing.F) {
	f.Add(recvErr(unix.SO_EE_ORIGIN_ICMP, 11, 0, netip.MustParseAddr("10.77.0.1")))
	f.Add(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 3, netip.MustParseAddr("192.168.1.1"))[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok := offender(b); ok && (!a.Is4() || a.IsUnspecified()) {
			t.Fatalf("offender %v", a)
		}
	})
}
