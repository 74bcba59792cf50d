//go:build linux

package netlab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSTUNServerChangeRequest runs the responder on loopback (127.0.0.1 and
// 127.0.0.2, no root needed) and checks it the way miniupnpd's perform_stun
// does: four requests from four sockets, all answered, each from the address
// the CHANGE-REQUEST asked for, each reporting the requester's own address.
func TestSTUNServerChangeRequest(t *testing.T) {
	listen := func(ap netip.AddrPort) (*net.UDPConn, error) {
		return net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	}
	ip, alt := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	var conns [4]*net.UDPConn
	var err error
	for attempt := 0; attempt < 5; attempt++ { // the alternate IP may have the port taken
		if conns, err = listenSTUN(listen, ip, alt, 0, 0); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s := newSTUNServer(conns)
	defer s.Close()
	primary := s.Addr()
	altPort := localAddrPort(conns[1]).Port()

	for i := range 4 {
		changeIP, changePort := i/2 == 1, i%2 == 1
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			t.Fatal(err)
		}
		id := [12]byte{byte(i), 0xEE}
		if _, err := c.WriteToUDPAddrPort(miniupnpdRequest(id, changeIP, changePort), primary); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 600)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		c.Close()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		r, err := decodeResponse(buf[:n])
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		wantFrom := primary
		if changeIP {
			wantFrom = netip.AddrPortFrom(alt, wantFrom.Port())
		}
		if changePort {
			wantFrom = netip.AddrPortFrom(wantFrom.Addr(), altPort)
		}
		self := localAddrPort(c)
		switch {
		case from != wantFrom:
			t.Errorf("request %d (changeIP=%v changePort=%v): answered from %v, want %v", i, changeIP, changePort, from, wantFrom)
		case r.mapped != self || r.xorMapped != self:
			t.Errorf("request %d: mapped %v / %v, want %v", i, r.mapped, r.xorMapped, self)
		case r.sourceAddr != wantFrom:
			t.Errorf("request %d: SOURCE-ADDRESS %v, want %v", i, r.sourceAddr, wantFrom)
		case r.changedAddr != netip.AddrPortFrom(alt, altPort):
			t.Errorf("request %d: CHANGED-ADDRESS %v", i, r.changedAddr)
		case [12]byte(r.id[4:]) != id:
			t.Errorf("request %d: transaction id %x", i, r.id)
		}
	}
	// Garbage is dropped, not answered.
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(primary))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("not stun at all, just some bytes"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 100)); err == nil {
		t.Fatalf("got a %d-byte answer to garbage", n)
	}
	if got := s.Requests(); got != 4 {
		t.Fatalf("Requests() = %d, want 4", got)
	}
}
