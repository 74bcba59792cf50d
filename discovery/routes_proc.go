package discovery

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Route flags of /proc/net/route and /proc/net/ipv6_route (linux/route.h,
// linux/ipv6_route.h).
const (
	procRTFUp      = 0x1
	procRTFGateway = 0x2
	procRTFReject  = 0x200
)

// procMaxLines bounds how much of a /proc routing table is read: a host with
// a full Internet table is no home computer, and the default routes come
// first anyway.
const procMaxLines = 100000

// parseProcNetRoute parses /proc/net/route and returns its IPv4 default
// routes. The kernel prints each address as the hexadecimal value of a
// network-order 32-bit word read in host order, so order is the host's byte
// order (tests pass a fixed one).
//
// Android 10 and later print a zero gateway for every route to apps; such a
// route is returned with an invalid Gw and ends up as ErrNoDefaultRoute.
func parseProcNetRoute(r io.Reader, order binary.ByteOrder) ([]kernelRoute, error) {
	var routes []kernelRoute
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	for n := 0; sc.Scan() && n < procMaxLines; n++ {
		f := strings.Fields(sc.Text())
		if n == 0 && len(f) > 0 && f[0] == "Iface" {
			continue // header
		}
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		gw, err2 := strconv.ParseUint(f[2], 16, 32)
		flags, err3 := strconv.ParseUint(f[3], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 32)
		mask, err5 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if dst != 0 || mask != 0 || flags&procRTFUp == 0 || flags&procRTFReject != 0 {
			continue
		}
		kr := kernelRoute{IfName: f[0], Metric: uint32(metric), Table: tableMain}
		if flags&procRTFGateway != 0 && gw != 0 {
			var a [4]byte
			order.PutUint32(a[:], uint32(gw))
			kr.Gw = netip.AddrFrom4(a)
		}
		routes = append(routes, kr)
	}
	return routes, sc.Err()
}

// parseProcIPv6Route parses /proc/net/ipv6_route and returns its default
// routes. Addresses are 32 hex digits in network order; the metric and flags
// are hexadecimal.
func parseProcIPv6Route(r io.Reader) ([]kernelRoute, error) {
	var routes []kernelRoute
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	for n := 0; sc.Scan() && n < procMaxLines; n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 10 {
			continue
		}
		dst, ok1 := hex16(f[0])
		plen, err1 := strconv.ParseUint(f[1], 16, 8)
		nh, ok2 := hex16(f[4])
		metric, err2 := strconv.ParseUint(f[5], 16, 32)
		flags, err3 := strconv.ParseUint(f[8], 16, 32)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if dst != ([16]byte{}) || plen != 0 || flags&procRTFUp == 0 || flags&procRTFReject != 0 {
			continue
		}
		kr := kernelRoute{IfName: f[9], Metric: uint32(metric), Table: tableMain}
		if flags&procRTFGateway != 0 {
			kr.Gw = netip.AddrFrom16(nh)
		}
		routes = append(routes, kr)
	}
	return routes, sc.Err()
}

func hex16(s string) (a [16]byte, ok bool) {
	if len(s) != 32 {
		return a, false
	}
	_, err := hex.Decode(a[:], []byte(s))
	return a, err == nil
}
