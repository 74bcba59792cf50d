package gatewaytest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// udpClient is a test client socket connected to the gateway, bound to a
// chosen loopback source address so tests can play several LAN hosts.
type udpClient struct {
	t    testing.TB
	conn *net.UDPConn
}

// dialFrom connects a UDP socket from local (zero = kernel's choice) to to.
func dialFrom(t testing.TB, local netip.Addr, to netip.AddrPort) *udpClient {
	t.Helper()
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	network := "udp4"
	if to.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.DialUDP(network, laddr, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, conn: c}
}

func (c *udpClient) local() netip.Addr {
	return c.conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

func (c *udpClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv waits up to d for a datagram; nil on timeout.
func (c *udpClient) recv(d time.Duration) []byte {
	c.t.Helper()
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// roundTrip sends b and returns the reply, failing the test after 2 s.
func (c *udpClient) roundTrip(b []byte) []byte {
	c.t.Helper()
	c.send(b)
	r := c.recv(2 * time.Second)
	if r == nil {
		c.t.Fatalf("no reply to % x", b)
	}
	return r
}

// --- NAT-PMP requests, written from RFC 6886 §3.2/§3.3 ---

func pmpExternal() []byte { return []byte{0, 0} }

func pmpMap(op byte, internal, suggested uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[1] = op
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], suggested)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

type pmpMapReply struct {
	op                 byte
	result             uint16
	epoch              uint32
	internal, external uint16
	lifetime           uint32
}

func parsePMPMap(t testing.TB, b []byte) pmpMapReply {
	t.Helper()
	if len(b) != 16 || b[0] != 0 {
		t.Fatalf("map reply: % x", b)
	}
	return pmpMapReply{
		op: b[1], result: binary.BigEndian.Uint16(b[2:]), epoch: binary.BigEndian.Uint32(b[4:]),
		internal: binary.BigEndian.Uint16(b[8:]), external: binary.BigEndian.Uint16(b[10:]),
		lifetime: binary.BigEndian.Uint32(b[12:]),
	}
}

// --- PCP requests, written from RFC 6887 §7 and §11 ---

type pcpReq struct {
	version  byte // 0 means 2
	opcode   byte
	lifetime uint32
	client   netip.Addr
	nonce    [12]byte
	proto    byte
	internal uint16
	extPort  uint16
	extAddr  netip.Addr
	peerPort uint16
	peerAddr netip.Addr
	options  []byte
}

func (r pcpReq) bytes() []byte {
	v := r.version
	if v == 0 {
		v = 2
	}
	b := make([]byte, 24)
	b[0] = v
	b[1] = r.opcode
	binary.BigEndian.PutUint32(b[4:], r.lifetime)
	a := r.client.As16()
	copy(b[8:], a[:])
	if r.opcode == 1 || r.opcode == 2 {
		p := make([]byte, 36)
		copy(p, r.nonce[:])
		p[12] = r.proto
		binary.BigEndian.PutUint16(p[16:], r.internal)
		binary.BigEndian.PutUint16(p[18:], r.extPort)
		ea := netip.IPv4Unspecified()
		if r.extAddr.IsValid() {
			ea = r.extAddr
		}
		x := ea.As16()
		copy(p[20:], x[:])
		if r.opcode == 2 {
			q := make([]byte, 20)
			binary.BigEndian.PutUint16(q[0:], r.peerPort)
			y := r.peerAddr.As16()
			copy(q[4:], y[:])
			p = append(p, q...)
		}
		b = append(b, p...)
	}
	return append(b, r.options...)
}

func pcpOption(code byte, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	b[0] = code
	binary.BigEndian.PutUint16(b[2:], uint16(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

type pcpResp struct {
	version, opcode, result byte
	lifetime, epoch         uint32
	nonce                   [12]byte
	proto                   byte
	internal, extPort       uint16
	extAddr                 netip.Addr
	raw                     []byte
}

func parsePCPResp(t testing.TB, b []byte) pcpResp {
	t.Helper()
	if len(b) < 24 || len(b)%4 != 0 || b[1]&0x80 == 0 {
		t.Fatalf("pcp response: % x", b)
	}
	r := pcpResp{version: b[0], opcode: b[1] & 0x7f, result: b[3],
		lifetime: binary.BigEndian.Uint32(b[4:]), epoch: binary.BigEndian.Uint32(b[8:]), raw: b}
	if len(b) >= 60 && (r.opcode == 1 || r.opcode == 2) {
		p := b[24:]
		copy(r.nonce[:], p)
		r.proto = p[12]
		r.internal = binary.BigEndian.Uint16(p[16:])
		r.extPort = binary.BigEndian.Uint16(p[18:])
		r.extAddr = netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	}
	return r
}

func nonce(b byte) [12]byte {
	var n [12]byte
	for i := range n {
		n[i] = b + byte(i)
	}
	return n
}

// only returns the single mapping in the table, failing otherwise.
func only(t testing.TB, g *Gateway) Mapping {
	t.Helper()
	ms := g.Mappings()
	if len(ms) != 1 {
		t.Fatalf("table has %d entries, want 1: %+v", len(ms), ms)
	}
	return ms[0]
}
