package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// proxyInfo is what a target learns from a PROXY header.
type proxyInfo struct {
	version  int
	local    bool // v2 LOCAL / v1 UNKNOWN
	src, dst netip.AddrPort
}

// parseProxyHeaderForTest is a strict reader of the headers the relay writes,
// written from the spec so the tests check the relay against it. The relay
// itself never parses PROXY headers.
func parseProxyHeaderForTest(b []byte) (proxyInfo, []byte, error) {
	if bytes.HasPrefix(b, proxyV2Sig[:]) {
		if len(b) < 16 {
			return proxyInfo{}, nil, errors.New("short v2 header")
		}
		n := int(binary.BigEndian.Uint16(b[14:16]))
		if len(b) < 16+n {
			return proxyInfo{}, nil, errors.New("v2 length beyond data")
		}
		body, rest := b[16:16+n], b[16+n:]
		info := proxyInfo{version: 2}
		switch b[12] {
		case 0x20:
			info.local = true
			if b[13] != 0 || n != 0 {
				return info, nil, errors.New("LOCAL with addresses")
			}
			return info, rest, nil
		case 0x21:
		default:
			return info, nil, errors.New("bad version/command")
		}
		switch b[13] {
		case 0x11:
			if n != 12 {
				return info, nil, errors.New("bad v4 length")
			}
			info.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
			info.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		case 0x21:
			if n != 36 {
				return info, nil, errors.New("bad v6 length")
			}
			info.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
			info.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
		default:
			return info, nil, errors.New("bad family")
		}
		return info, rest, nil
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 || i > 105 || !bytes.HasPrefix(b, []byte("PROXY ")) {
		return proxyInfo{}, nil, errors.New("no v1 header")
	}
	f := strings.Split(string(b[:i]), " ")
	info := proxyInfo{version: 1}
	if len(f) == 2 && f[1] == "UNKNOWN" {
		info.local = true
		return info, b[i+2:], nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return info, nil, errors.New("bad v1 fields")
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := strconv.ParseUint(f[4], 10, 16)
	dp, err4 := strconv.ParseUint(f[5], 10, 16)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return info, nil, err
	}
	if (f[1] == "TCP4") != (src.Is4() && dst.Is4()) {
		return info, nil, errors.New("family does not match addresses")
	}
	info.src = netip.AddrPortFrom(src.Unmap(), uint16(sp))
	info.dst = netip.AddrPortFrom(dst.Unmap(), uint16(dp))
	return info, b[i+2:], nil
}

func TestProxyHeaderBytes(t *testing.T) {
	src4 := netip.MustParseAddrPort("192.0.2.1:56324")
	dst4 := netip.MustParseAddrPort("198.51.100.2:443")
	src6 := netip.MustParseAddrPort("[2001:db8::1]:56324")
	for _, tc := range []struct {
		name     string
		version  int
		src, dst netip.AddrPort
		known    bool
		want     string
	}{
		{"v1 IPv4", 1, src4, dst4, true, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"},
		{"v1 IPv6", 1, src6, netip.MustParseAddrPort("[2001:db8::2]:443"), true, "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"},
		{"v1 mixed", 1, src4, netip.MustParseAddrPort("[2001:db8::2]:443"), true, "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 56324 443\r\n"},
		{"v1 unknown", 1, netip.AddrPort{}, netip.AddrPort{}, false, "PROXY UNKNOWN\r\n"},
		{"v2 IPv4", 2, src4, dst4, true, "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x01\xbb"},
		{"v2 local", 2, netip.AddrPort{}, netip.AddrPort{}, false, "\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(buildProxyHeader(tc.version, tc.src, tc.dst, tc.known))
			if got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzProxyHeader checks that every header the relay can write is well formed
// and says what it was given.
func FuzzProxyHeader(f *testing.F) {
	f.Add(uint8(1), []byte{192, 0, 2, 1}, uint16(1234), []byte{127, 0, 0, 1}, uint16(80))
	f.Add(uint8(2), bytes.Repeat([]byte{0x20}, 16), uint16(0), []byte{10, 0, 0, 1}, uint16(65535))
	f.Add(uint8(2), []byte{}, uint16(1), []byte{1}, uint16(2))
	f.Fuzz(func(t *testing.T, version uint8, src []byte, sport uint16, dst []byte, dport uint16) {
		v := int(version%2) + 1
		s, sok := netip.AddrFromSlice(src)
		d, dok := netip.AddrFromSlice(dst)
		known := sok && dok
		sp, dp := netip.AddrPortFrom(s, sport), netip.AddrPortFrom(d, dport)
		hdr := buildProxyHeader(v, sp, dp, known)
		if v == 1 && len(hdr) > 107 {
			t.Fatalf("v1 header of %d bytes exceeds the spec's 107", len(hdr))
		}
		info, rest, err := parseProxyHeaderForTest(append(hdr, 'x'))
		if err != nil {
			t.Fatalf("%q: %v", hdr, err)
		}
		if string(rest) != "x" || info.version != v || info.local == known {
			t.Fatalf("%q parsed as %+v, rest %q", hdr, info, rest)
		}
		if known && (info.src != netip.AddrPortFrom(s.Unmap(), sport) || info.dst != netip.AddrPortFrom(d.Unmap(), dport)) {
			t.Fatalf("%q parsed as %+v, want %v %v", hdr, info, sp, dp)
		}
	})
}
