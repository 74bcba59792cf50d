package pcp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testExternal = netip.MustParseAddr("203.0.113.7")

// respond builds the response a server sends to req: the request with the
// response bit, result, lifetime and epoch set and the client address
// replaced by the reserved zeros (§7.2), as miniupnpd does.
func respond(req []byte, result ResultCode, lifetime, epoch uint32) []byte {
	b := append([]byte(nil), req...)
	b[1] |= 0x80
	b[2], b[3] = 0, byte(result)
	binary.BigEndian.PutUint32(b[4:8], lifetime)
	binary.BigEndian.PutUint32(b[8:12], epoch)
	clear(b[12:24])
	return b
}

// grant fills in a MAP or PEER response's assigned external port and address.
func grant(b []byte, ext netip.AddrPort) []byte {
	binary.BigEndian.PutUint16(b[24+18:24+20], ext.Port())
	a := ext.Addr().As16()
	copy(b[24+20:24+36], a[:])
	return b
}

// fakeServer answers like a well-behaved PCP server: SUCCESS, lifetime
// clamped to [120, 7200], the suggested port or else the internal port on
// 203.0.113.7 (IPv4 clients) or the client's own address (IPv6 pinholes),
// epoch 1000.
func fakeServer(r *udptest.Responder, req udptest.Request) {
	d := req.Data
	if len(d) < 24 || d[0] != 2 {
		return
	}
	lifetime := binary.BigEndian.Uint32(d[4:8])
	if lifetime != 0 {
		lifetime = min(max(lifetime, 120), 7200)
	}
	b := respond(d, Success, lifetime, 1000)
	if op := d[1]; (op == OpMap || op == OpPeer) && len(d) >= 60 {
		port := binary.BigEndian.Uint16(d[24+18 : 24+20])
		if port == 0 {
			port = binary.BigEndian.Uint16(d[24+16 : 24+18])
		}
		ext := testExternal
		if client := netip.AddrFrom16([16]byte(d[8:24])); !client.Is4In6() {
			ext = client
		}
		if lifetime == 0 {
			port, ext = 0, netip.IPv6Unspecified()
		}
		b = grant(b, netip.AddrPortFrom(ext, port))
	}
	r.Reply(req, b)
}

// newClient returns a Client for the responder with short timers and no
// jitter.
func newClient(r *udptest.Responder) *Client {
	return &Client{Server: r.Addr(), InitialTimeout: 20e6, MaxDuration: 2e9, rand: func() float64 { return 0 }}
}

// requestsAtLeast waits up to a second for the responder to have read want
// requests and returns how many it has: it records a datagram when its
// goroutine reads it, which may be after the client returned.
func requestsAtLeast(r *udptest.Responder, want int) int {
	deadline := time.Now().Add(time.Second)
	n := len(r.Requests())
	for n < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n = len(r.Requests())
	}
	return n
}
