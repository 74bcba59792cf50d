package reach

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestSTUNAgainstServer(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		srv := startServer(t, &Server{Addr: addr})
		got, err := STUN(testCtx(t), srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr() != srv.LocalAddr().Addr() || got.Port() == 0 || got.Port() == srv.LocalAddr().Port() {
			t.Errorf("%s: observed %v", addr, got)
		}
		if srv.Stats().STUN != 1 {
			t.Errorf("%s: %d STUN answers", addr, srv.Stats().STUN)
		}
	}
}

// stunAsk sends a raw Binding request from pc to dst and returns the answer
// and where it came from.
func stunAsk(t *testing.T, pc net.PacketConn, dst netip.AddrPort, req []byte) ([]byte, netip.AddrPort) {
	t.Helper()
	if _, err := pc.WriteTo(req, net.UDPAddrFromAddrPort(dst)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(testTimeout))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n], from.(*net.UDPAddr).AddrPort()
}

// bindingRequest builds a request with the RFC 5389 cookie and the given
// attributes (type, value) pairs.
func bindingRequest(id byte, attrs ...[]byte) ([]byte, stunTxID) {
	var tx stunTxID
	binary.BigEndian.PutUint32(tx[:4], stunCookie)
	tx[15] = id
	b := appendSTUNHeader(nil, stunBindingRequest, tx)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return finishSTUN(b, 0), tx
}

func attr(typ uint16, val []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestSTUNRFC5780(t *testing.T) {
	srv := startServer(t, &Server{Addr: "127.0.0.1:0", AltAddr: "127.0.0.2:0", Burst: 100})
	primary, alt := srv.LocalAddr(), srv.AltLocalAddr()
	if !alt.IsValid() || alt.Port() == primary.Port() {
		t.Fatalf("alternate %v for primary %v", alt, primary)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	me := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	padding := attr(attrPadding, make([]byte, 64))

	// Padded: the answer has room for OTHER-ADDRESS and RESPONSE-ORIGIN.
	req, id := bindingRequest(1, padding)
	b, from := stunAsk(t, pc, primary, req)
	r, err := parseSTUNResponse(b, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.mapped != me || r.other != alt || r.origin != primary || from != primary {
		t.Fatalf("mapped %v other %v origin %v from %v; want %v %v %v %v", r.mapped, r.other, r.origin, from, me, alt, primary, primary)
	}
	if len(b) > len(req) {
		t.Errorf("answer %d bytes for a request of %d", len(b), len(req))
	}

	// Unpadded: only XOR-MAPPED-ADDRESS, no bigger than stunPlainMax.
	req, id = bindingRequest(2)
	b, _ = stunAsk(t, pc, primary, req)
	if r, err = parseSTUNResponse(b, id); err != nil || r.mapped != me || r.other.IsValid() || len(b) > stunPlainMax {
		t.Fatalf("plain answer of %d bytes: %+v %v", len(b), r, err)
	}

	// CHANGE-REQUEST: change IP and port, the answer comes from the other pair.
	for _, tc := range []struct {
		flags uint32
		from  netip.AddrPort
	}{
		{changeIPFlag | changePortFlag, alt},
		{changeIPFlag, netip.AddrPortFrom(alt.Addr(), primary.Port())},
		{changePortFlag, netip.AddrPortFrom(primary.Addr(), alt.Port())},
	} {
		req, id = bindingRequest(3, attr(attrChangeRequest, binary.BigEndian.AppendUint32(nil, tc.flags)), padding)
		b, from = stunAsk(t, pc, primary, req)
		if r, err = parseSTUNResponse(b, id); err != nil || from != tc.from || r.origin != tc.from || r.mapped != me {
			t.Errorf("change %#x: from %v origin %v mapped %v (%v), want from %v", tc.flags, from, r.origin, r.mapped, err, tc.from)
		}
	}

	// miniupnpd's STUN client speaks RFC 3489: no magic cookie, CHANGE-REQUEST
	// in each of its four requests. It gets MAPPED-ADDRESS from the changed
	// address, and no RFC 5780 attributes.
	var classic stunTxID
	copy(classic[:], "miniupnpd-3489-!")
	req = appendSTUNHeader(nil, stunBindingRequest, classic)
	req = finishSTUN(append(req, attr(attrChangeRequest, []byte{0, 0, 0, changeIPFlag | changePortFlag})...), 0)
	b, from = stunAsk(t, pc, primary, req)
	if r, err = parseSTUNResponse(b, classic); err != nil || from != alt || r.mapped != me || r.other.IsValid() {
		t.Errorf("RFC 3489 change request: from %v, %+v %v", from, r, err)
	}

	// RESPONSE-PORT: the answer goes to another port of the same IP, and
	// only when the request is at least as big as the answer.
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	op := other.LocalAddr().(*net.UDPAddr).Port
	rp := attr(attrResponsePort, []byte{byte(op >> 8), byte(op), 0, 0})
	req, id = bindingRequest(4, rp, padding)
	pc.WriteTo(req, net.UDPAddrFromAddrPort(primary))
	buf := make([]byte, 2048)
	other.SetReadDeadline(time.Now().Add(testTimeout))
	n, _, err := other.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = parseSTUNResponse(buf[:n], id); err != nil || r.mapped != me || n > len(req) {
		t.Errorf("RESPONSE-PORT answer %d bytes for %d: %+v %v", n, len(req), r, err)
	}
	before := srv.Stats().STUN
	req, _ = bindingRequest(5, rp) // unpadded: smaller than its answer
	pc.WriteTo(req, net.UDPAddrFromAddrPort(primary))
	req, id = bindingRequest(6) // a marker that the one before was handled
	if _, err := parseSTUNResponse(mustRead(t, pc, primary, req), id); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().STUN - before; got != 1 {
		t.Errorf("an unpadded RESPONSE-PORT request was answered (%d answers)", got)
	}
}

func mustRead(t *testing.T, pc net.PacketConn, dst netip.AddrPort, req []byte) []byte {
	b, _ := stunAsk(t, pc, dst, req)
	return b
}

func TestSTUNWithoutAlternate(t *testing.T) {
	srv := startServer(t, &Server{Burst: 100})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	me := pc.LocalAddr().(*net.UDPAddr).AddrPort()

	req, id := bindingRequest(1, attr(attrChangeRequest, []byte{0, 0, 0, changeIPFlag}))
	_, err = parseSTUNResponse(mustRead(t, pc, srv.LocalAddr(), req), id)
	var se *STUNError
	if !errors.As(err, &se) || se.Code != 420 || !errors.Is(err, ErrSTUN) {
		t.Fatalf("CHANGE-REQUEST without an alternate address: %v, want 420", err)
	}
	// An unknown comprehension-required attribute: 420 as well.
	req, id = bindingRequest(2, attr(0x7777, []byte{1, 2, 3, 4}))
	if _, err = parseSTUNResponse(mustRead(t, pc, srv.LocalAddr(), req), id); !errors.As(err, &se) || se.Code != 420 {
		t.Fatalf("unknown attribute: %v", err)
	}
	// RFC 3489 client (no cookie): MAPPED-ADDRESS, as miniupnpd expects.
	var tx stunTxID
	copy(tx[:], "classic-3489-id!")
	req = finishSTUN(appendSTUNHeader(nil, stunBindingRequest, tx), 0)
	b := mustRead(t, pc, srv.LocalAddr(), req)
	r, err := parseSTUNResponse(b, tx)
	if err != nil || r.mapped != me {
		t.Fatalf("classic: %+v %v", r, err)
	}
	if binary.BigEndian.Uint16(b[20:22]) != attrMappedAddress {
		t.Errorf("classic answer's first attribute %#x", b[20:22])
	}
}

func TestSTUNHostileServer(t *testing.T) {
	tests := []struct {
		name  string
		reply func(req []byte) []byte
		want  error
	}{
		{"garbage", func([]byte) []byte { return []byte("hello, world") }, ErrBadAnswer},
		{"huge", func([]byte) []byte { return make([]byte, 1400) }, ErrBadAnswer},
		{"no address", func(req []byte) []byte {
			var id stunTxID
			copy(id[:], req[4:20])
			return finishSTUN(appendSTUNHeader(nil, stunBindingSuccess, id), 0)
		}, ErrBadAnswer},
		{"overrunning attribute", func(req []byte) []byte {
			var id stunTxID
			copy(id[:], req[4:20])
			b := appendSTUNHeader(nil, stunBindingSuccess, id)
			b = append(b, 0, 0x20, 0x01, 0x00, 0, 0, 0, 0)
			return finishSTUN(b, 0)
		}, ErrBadAnswer},
		{"error 500", func(req []byte) []byte {
			var id stunTxID
			copy(id[:], req[4:20])
			return appendSTUNError(nil, id, 500, "Server Error\x1b[31m", nil)
		}, ErrSTUN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			go func() {
				buf := make([]byte, 2048)
				for {
					n, src, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(tc.reply(buf[:n]), src)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = STUN(ctx, pc.LocalAddr().String())
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			var se *STUNError
			if errors.As(err, &se) && (se.Code != 500 || se.Reason != "Server Error[31m") {
				t.Errorf("error %d %q: control characters must be stripped", se.Code, se.Reason)
			}
		})
	}
}

func TestSTUNSilentAndDown(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// 1 s: the resend due at 500 ms and the next one due at 1.5 s are each
	// half a second from the deadline, so a loaded machine still sees 2.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := STUN(ctx, silent.LocalAddr().String()); !errors.Is(err, ErrCheckerSlow) {
		t.Errorf("silent: %v", err)
	}
	n := 0
	silent.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for buf := make([]byte, 64); ; n++ {
		if _, _, err := silent.ReadFrom(buf); err != nil {
			break
		}
	}
	if n != 2 { // at 0 and 500 ms
		t.Errorf("%d requests in 1 s, want 2 (RTO 500 ms, then 1 s)", n)
	}
	down := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freePort(t))
	if _, err := STUN(testCtx(t), down.String()); !errors.Is(err, ErrCheckerDown) {
		t.Errorf("down: %v", err)
	}
}
