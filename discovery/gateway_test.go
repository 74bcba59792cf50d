package discovery

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

var le = binary.LittleEndian

// testdata/netlink-dump-le.bin is a real RTM_GETROUTE dump (x86-64, so
// little-endian) from a scratch namespace with two veth links and:
//
//	default via 10.9.0.1 dev d1 metric 100
//	default via 192.168.7.254 dev d0 metric 600
//	default via fe80::1 dev d0 metric 1024             (IPv6)
//	default via 10.9.0.2 dev d1 table 1021
//	default table 1022 nexthop via 10.9.0.3 dev d1 nexthop via 192.168.7.3 dev d0
//	unreachable default table 77
//
// plus the kernel's local and link routes. Interface indexes: d0 = 3, d1 = 5.
func TestParseNetlinkDump(t *testing.T) {
	b, err := os.ReadFile("testdata/netlink-dump-le.bin")
	if err != nil {
		t.Fatal(err)
	}
	routes, done, err := parseNetlinkRoutes(b, le, nil)
	if err != nil || !done {
		t.Fatalf("done %v err %v", done, err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, r.Gw.String()+"/"+itoa(int(r.Table))+"/"+itoa(int(r.Metric)))
	}
	want := []string{ // the kernel's order: IPv4 tables by id, then IPv6
		"10.9.0.2/1021/0", "10.9.0.3/1022/0", "192.168.7.3/1022/0",
		"10.9.0.1/254/100", "192.168.7.254/254/600",
		"fe80::1/254/1024",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("routes\n got %v\nwant %v", got, want)
	}

	names := map[int]string{3: "d0", 5: "d1"}
	name := func(i int) string { return names[i] }
	gws, err := chooseDefaults(routes, name)
	if err != nil {
		t.Fatal(err)
	}
	gws = finishGateways(gws)
	want = []string{"10.9.0.1 d1 100", "192.168.7.254 d0 600", "fe80::1%d0 d0 1024"}
	if s := fmtGateways(gws); s != strings.Join(want, ", ") {
		t.Errorf("gateways %s, want %s", s, strings.Join(want, ", "))
	}

	// Without the main table's defaults (Android keeps them in per-network
	// tables), the others are used.
	var others []kernelRoute
	for _, r := range routes {
		if r.Table != tableMain {
			others = append(others, r)
		}
	}
	gws, err = chooseDefaults(others, name)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmtGateways(finishGateways(gws)); s != "10.9.0.2 d1 0, 10.9.0.3 d1 0, 192.168.7.3 d0 0" {
		t.Errorf("policy-table gateways %s", s)
	}

	// Truncations are errors, never panics.
	for i := 1; i < len(b); i += 7 {
		parseNetlinkRoutes(b[:i], le, nil)
	}
}

// nlRoute builds one RTM_NEWROUTE message.
func nlRoute(family, dstLen, table, typ byte, flags uint32, attrs ...[]byte) []byte {
	body := []byte{family, dstLen, 0, 0, table, 3, 0, typ, 0, 0, 0, 0}
	le.PutUint32(body[8:], flags)
	for _, a := range attrs {
		body = append(body, a...)
	}
	return nlMsg(rtmNewRoute, body)
}

func nlMsg(typ uint16, body []byte) []byte {
	m := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(body)+3)
	le.PutUint32(m[0:], uint32(nlmsgHdrLen+len(body)))
	le.PutUint16(m[4:], typ)
	le.PutUint16(m[6:], nlmFMulti)
	m = append(m, body...)
	for len(m)%4 != 0 {
		m = append(m, 0)
	}
	return m
}

func nlAttr(typ uint16, val []byte) []byte {
	a := make([]byte, rtAttrHdrLen, rtAttrHdrLen+len(val)+3)
	le.PutUint16(a[0:], uint16(rtAttrHdrLen+len(val)))
	le.PutUint16(a[2:], typ)
	a = append(a, val...)
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

func u32(v uint32) []byte { b := make([]byte, 4); le.PutUint32(b, v); return b }

func nexthop(flags byte, ifindex uint32, attrs ...[]byte) []byte {
	var body []byte
	for _, a := range attrs {
		body = append(body, a...)
	}
	h := make([]byte, rtNexthopLen)
	le.PutUint16(h[0:], uint16(rtNexthopLen+len(body)))
	h[2] = flags
	le.PutUint32(h[4:], ifindex)
	return append(h, body...)
}

func TestParseNetlinkSynthetic(t *testing.T) {
	gw4 := netip.MustParseAddr("192.0.2.1").AsSlice()
	via6 := append([]byte{afInet6Linux, 0}, netip.MustParseAddr("fe80::2").AsSlice()...)
	var dump []byte
	// A default whose next hop is IPv6 (RFC 5549, RTA_VIA).
	dump = append(dump, nlRoute(afInet, 0, 254, rtnUnicast, 0, nlAttr(rtaOif, u32(2)), nlAttr(rtaVia, via6))...)
	// ECMP: one dead next hop, one live.
	mp := append(nexthop(rtnhFDead, 2, nlAttr(rtaGateway, netip.MustParseAddr("192.0.2.9").AsSlice())),
		nexthop(0, 3, nlAttr(rtaGateway, gw4))...)
	dump = append(dump, nlRoute(afInet, 0, 254, rtnUnicast, 0, nlAttr(rtaPriority, u32(5)), nlAttr(rtaMultipath, mp))...)
	// Ignored: not default, not unicast, cloned, garbage attribute list.
	dump = append(dump, nlRoute(afInet, 24, 254, rtnUnicast, 0, nlAttr(rtaGateway, gw4))...)
	dump = append(dump, nlRoute(afInet, 0, 254, 7 /* unreachable */, 0)...)
	dump = append(dump, nlRoute(afInet, 0, 254, rtnUnicast, rtmFCloned, nlAttr(rtaGateway, gw4))...)
	dump = append(dump, nlRoute(afInet, 0, 254, rtnUnicast, 0, []byte{200, 0, 5, 0})...)
	// Table id beyond 255 in RTA_TABLE; default without gateway (a tun).
	dump = append(dump, nlRoute(afInet, 0, 252, rtnUnicast, 0, nlAttr(rtaTable, u32(51820)), nlAttr(rtaOif, u32(9)))...)
	dump = append(dump, nlMsg(nlmsgDone, u32(0))...)

	routes, done, err := parseNetlinkRoutes(dump, le, nil)
	if err != nil || !done {
		t.Fatalf("done %v err %v", done, err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, r.Gw.String()+"@"+itoa(r.IfIndex)+"/"+itoa(int(r.Table))+"/"+itoa(int(r.Metric)))
	}
	want := "fe80::2@2/254/0 192.0.2.1@3/254/5 invalid IP@9/51820/0"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}

	// NLMSG_ERROR carries a negative errno.
	e := nlMsg(nlmsgError, u32(uint32(0xffffffff-12)))
	if _, _, err := parseNetlinkRoutes(e, le, nil); err == nil || !strings.Contains(err.Error(), "13") {
		t.Errorf("NLMSG_ERROR: %v", err)
	}
	if _, _, err := parseNetlinkRoutes([]byte{1, 2, 3}, le, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated header: %v", err)
	}
}

// /proc/net/route as the kernel prints it (x86: little-endian words), with
// the real table of the namespace above.
const procRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT                                                       
d1	00000000	0100090A	0003	0	0	100	00000000	0	0	0                                                                               
d0	00000000	FE07A8C0	0003	0	0	600	00000000	0	0	0                                                                               
d1	0000090A	00000000	0001	0	0	0	0000FFFF	0	0	0                                                                                 
d0	0007A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0                                                                                 
`

const procIPv6Route = `fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       d0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003       d0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001       d0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`

func TestParseProcRoutes(t *testing.T) {
	r4, err := parseProcNetRoute(strings.NewReader(procRoute), le)
	if err != nil {
		t.Fatal(err)
	}
	r6, err := parseProcIPv6Route(strings.NewReader(procIPv6Route))
	if err != nil {
		t.Fatal(err)
	}
	gws, err := chooseDefaults(append(r4, r6...), func(int) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := "10.9.0.1 d1 100, 192.168.7.254 d0 600, fe80::1%d0 d0 1024"
	if s := fmtGateways(finishGateways(gws)); s != want {
		t.Errorf("got %s\nwant %s", s, want)
	}
	// A big-endian host prints the words the other way round.
	be := strings.ReplaceAll(procRoute, "0100090A", "0A090001")
	r4, _ = parseProcNetRoute(strings.NewReader(be), binary.BigEndian)
	if len(r4) != 2 || r4[0].Gw != netip.MustParseAddr("10.9.0.1") {
		t.Errorf("big-endian: %+v", r4)
	}
}

// Android 10+ shows apps a zero gateway: the answer is an error naming the
// interface, never a guessed address.
func TestAndroidHiddenGateway(t *testing.T) {
	android := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"wlan0\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"wlan0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	r4, err := parseProcNetRoute(strings.NewReader(android), le)
	if err != nil {
		t.Fatal(err)
	}
	gws, err := chooseDefaults(r4, func(int) string { return "" })
	if !errors.Is(err, ErrNoDefaultRoute) || !errors.Is(err, ErrNoGateway) || !strings.Contains(err.Error(), "wlan0") {
		t.Errorf("got %v, %v; want ErrNoDefaultRoute naming wlan0", gws, err)
	}
	if _, err := chooseDefaults(nil, nil); !errors.Is(err, ErrNoDefaultRoute) {
		t.Errorf("empty table: %v", err)
	}
}

func TestFinishGateways(t *testing.T) {
	in := []Gateway{
		{Addr: netip.MustParseAddr("2001:db8::1"), Metric: 1},
		{Addr: netip.MustParseAddr("::ffff:10.0.0.1"), Interface: "a", Metric: 50},
		{Addr: netip.MustParseAddr("10.0.0.1"), Interface: "a", Metric: 50}, // duplicate once unmapped
		{Addr: netip.MustParseAddr("0.0.0.0")},
		{Addr: netip.MustParseAddr("127.0.0.1")},
		{Addr: netip.MustParseAddr("192.168.1.1"), Interface: "b", Metric: 10},
	}
	if s := fmtGateways(finishGateways(in)); s != "192.168.1.1 b 10, 10.0.0.1 a 50, 2001:db8::1  1" {
		t.Errorf("got %s", s)
	}
}

// In the test namespace (loopback only) there is no default route: the
// answer is ErrNoDefaultRoute, not a guess. Outside such a namespace the
// result must at least be well formed.
func TestDefaultGatewaysHere(t *testing.T) {
	gws, err := DefaultGateways()
	if loopbackOnly(t) {
		if !errors.Is(err, ErrNoDefaultRoute) || len(gws) != 0 {
			t.Fatalf("loopback-only namespace: %v, %v; want ErrNoDefaultRoute", gws, err)
		}
		return
	}
	if err != nil && !errors.Is(err, ErrNoDefaultRoute) {
		t.Fatalf("DefaultGateways: %v", err)
	}
	for _, g := range gws {
		if !usableGateway(g.Addr) {
			t.Errorf("unusable gateway %+v", g)
		}
	}
}

func TestLocalAddrFor(t *testing.T) {
	l, err := LocalAddrFor(netip.MustParseAddr("127.0.0.2"))
	if err != nil || !l.IsLoopback() {
		t.Errorf("LocalAddrFor(127.0.0.2) = %v, %v", l, err)
	}
	l, err = LocalAddrFor(netip.MustParseAddr("::1"))
	if err != nil || l != netip.IPv6Loopback() {
		t.Errorf("LocalAddrFor(::1) = %v, %v", l, err)
	}
	if loopbackOnly(t) {
		// No route: the connect fails, and nothing was sent anyway.
		if _, err := LocalAddrFor(netip.MustParseAddr("192.0.2.1")); err == nil {
			t.Error("LocalAddrFor found a route in a loopback-only namespace")
		}
	}
	if _, err := LocalAddrFor(netip.Addr{}); !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("zero address: %v", err)
	}
}

func loopbackOnly(t *testing.T) bool {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return false
		}
	}
	return true
}

func fmtGateways(gws []Gateway) string {
	var s []string
	for _, g := range gws {
		s = append(s, g.Addr.String()+" "+g.Interface+" "+itoa(int(g.Metric)))
	}
	return strings.Join(s, ", ")
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
