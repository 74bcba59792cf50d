package natpmp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// addrReply builds an external address response.
func addrReply(result ResultCode, epoch uint32, addr netip.Addr) []byte {
	b := []byte{0, 128}
	b = binary.BigEndian.AppendUint16(b, uint16(result))
	b = binary.BigEndian.AppendUint32(b, epoch)
	a := addr.As4()
	return append(b, a[:]...)
}

// mapReply builds a mapping response for opcode op.
func mapReply(op uint8, result ResultCode, epoch uint32, internal, external uint16, lifetime uint32) []byte {
	b := []byte{0, 128 + op}
	b = binary.BigEndian.AppendUint16(b, uint16(result))
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = binary.BigEndian.AppendUint16(b, internal)
	b = binary.BigEndian.AppendUint16(b, external)
	return binary.BigEndian.AppendUint32(b, lifetime)
}

// fakeGateway answers like a well-behaved NAT-PMP gateway: 203.0.113.7, the
// suggested port (or the internal one), the requested lifetime, epoch 1000.
func fakeGateway(r *udptest.Responder, req udptest.Request) {
	d := req.Data
	switch {
	case len(d) == 2 && d[0] == 0 && d[1] == 0:
		r.Reply(req, addrReply(Success, 1000, netip.MustParseAddr("203.0.113.7")))
	case len(d) == 12 && d[0] == 0 && (d[1] == 1 || d[1] == 2):
		internal := binary.BigEndian.Uint16(d[4:6])
		external := binary.BigEndian.Uint16(d[6:8])
		lifetime := binary.BigEndian.Uint32(d[8:12])
		if external == 0 && lifetime != 0 {
			external = internal
		}
		if lifetime == 0 {
			external = 0
		}
		r.Reply(req, mapReply(d[1], Success, 1000, internal, external, lifetime))
	}
}

// newClient returns a Client for the responder with short timers.
func newClient(r *udptest.Responder) *Client {
	return &Client{Gateway: r.Addr(), InitialTimeout: 20 * 1e6, MaxAttempts: 4}
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
