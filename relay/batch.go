package relay

import (
	"net"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// message is a datagram for batched I/O; ipv4.Message and ipv6.Message are
// the same type.
type message = ipv4.Message

// batchConn reads and writes several datagrams per system call: recvmmsg and
// sendmmsg on Linux, one at a time elsewhere (x/net falls back by itself).
type batchConn interface {
	ReadBatch(ms []message, flags int) (int, error)
	WriteBatch(ms []message, flags int) (int, error)
}

// newBatchConn picks the x/net wrapper that matches the socket's family: the
// sockaddr it builds must fit the socket (a dual-stack [::] socket takes
// IPv4-mapped addresses through ipv6).
func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		return ipv4.NewPacketConn(c)
	}
	return ipv6.NewPacketConn(c)
}

// newMessages makes n messages with one buffer slot each; withBuffers gives
// each slot a buffer for a whole datagram (for reading).
func newMessages(n int, withBuffers bool) []message {
	ms := make([]message, n)
	var backing []byte
	if withBuffers {
		backing = make([]byte, n*maxDatagram)
	}
	for i := range ms {
		ms[i].Buffers = make([][]byte, 1)
		if withBuffers {
			ms[i].Buffers[0] = backing[i*maxDatagram : (i+1)*maxDatagram : (i+1)*maxDatagram]
		}
	}
	return ms
}

// udpBatch is what a session borrows to move replies: in for reading, out
// for writing the same bytes back to the client.
type udpBatch struct {
	in, out []message
}

var batchPool = sync.Pool{New: func() any {
	return &udpBatch{in: newMessages(replyBatch, true), out: newMessages(replyBatch, false)}
}}

func getBatch() *udpBatch { return batchPool.Get().(*udpBatch) }

func putBatch(b *udpBatch) {
	for i := range b.out {
		b.out[i].Addr = nil
		b.out[i].Buffers[0] = nil
	}
	batchPool.Put(b)
}
