package pcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestMapIPv4(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	m, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 8080, Lifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The server raised the lifetime to its floor of 120 s: the client
	// reports what was granted.
	if m.External != netip.AddrPortFrom(testExternal, 8080) || m.Lifetime != 120*time.Second ||
		m.Protocol != TCP || m.InternalPort != 8080 || m.Epoch != 1000 || m.GatewayReset || m.Nonce.IsZero() {
		t.Errorf("got %+v", m)
	}
	d := r.Requests()[0].Data
	if len(d) != 60 {
		t.Fatalf("MAP request of %d bytes, want 60", len(d))
	}
	want := []byte{2, 1, 0, 0, 0, 0, 0, 30}
	want = append(want, netip.MustParseAddr("::ffff:127.0.0.1").AsSlice()...) // the socket's address, IPv4-mapped
	want = append(want, m.Nonce[:]...)
	want = append(want, 6, 0, 0, 0, 0x1f, 0x90, 0, 0)
	want = append(want, netip.MustParseAddr("::ffff:0.0.0.0").AsSlice()...) // no preference, IPv4
	if !bytes.Equal(d, want) {
		t.Errorf("request\n% x\nwant\n% x", d, want)
	}
}

func TestMapIPv6(t *testing.T) {
	r := udptest.New(t, "[::1]:0", fakeServer)
	m, err := newClient(r).Map(t.Context(), MapRequest{Protocol: UDP, InternalPort: 5000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.External != netip.MustParseAddrPort("[::1]:5000") || m.Lifetime != time.Hour {
		t.Errorf("got %+v", m)
	}
	d := r.Requests()[0].Data
	if client := netip.AddrFrom16([16]byte(d[8:24])); client != netip.IPv6Loopback() {
		t.Errorf("client address %v, want ::1", client)
	}
	if sugg := netip.AddrFrom16([16]byte(d[44:60])); sugg != netip.IPv6Unspecified() {
		t.Errorf("suggested external %v, want ::", sugg)
	}
}

func TestSuggestedExternalSent(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	m, err := newClient(r).Map(t.Context(), MapRequest{
		Protocol: TCP, InternalPort: 8080, Lifetime: time.Hour,
		SuggestedExternal: netip.MustParseAddrPort("203.0.113.7:80"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.External.Port() != 80 {
		t.Errorf("external %v", m.External)
	}
	d := r.Requests()[0].Data
	if binary.BigEndian.Uint16(d[42:44]) != 80 || netip.AddrFrom16([16]byte(d[44:60])).Unmap() != testExternal {
		t.Errorf("suggestion not on the wire: % x", d[42:60])
	}
}

func TestNonces(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	c := newClient(r)
	req := MapRequest{Protocol: TCP, InternalPort: 8080, Lifetime: time.Hour}
	a, err := c.Map(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Map(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Nonce == b.Nonce {
		t.Error("two new mappings got the same nonce")
	}
	// A renewal passes the nonce back and it goes out unchanged.
	req.Nonce = a.Nonce
	if _, err := c.Map(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if got := Nonce(r.Requests()[2].Data[24:36]); got != a.Nonce {
		t.Errorf("renewal sent nonce %v, want %v", got, a.Nonce)
	}
	// A delete without a nonce would address nothing.
	if _, err := c.Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 8080}); err == nil {
		t.Error("a delete with a zero nonce was sent")
	}
}

func TestDelete(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	c := newClient(r)
	tp := netip.MustParseAddr("127.0.0.9")
	m, err := c.Map(t.Context(), MapRequest{Protocol: UDP, InternalPort: 4000, Lifetime: time.Hour, ThirdParty: tp})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	d := r.Requests()[1].Data
	if lt := binary.BigEndian.Uint32(d[4:8]); lt != 0 {
		t.Errorf("delete lifetime %d", lt)
	}
	if Nonce(d[24:36]) != m.Nonce || d[36] != UDP || binary.BigEndian.Uint16(d[40:42]) != 4000 {
		t.Errorf("delete does not name the mapping: % x", d[24:60])
	}
	if len(d) != 80 || d[60] != OptionThirdParty || netip.AddrFrom16([16]byte(d[64:80])).Unmap() != tp {
		t.Errorf("delete lacks the THIRD_PARTY option: % x", d[60:])
	}
}

// miniupnpd answers NO_RESOURCES to a delete of a mapping it does not have.
func TestDeleteOfMissingMapping(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, respond(req.Data, NoResources, 30, 1000))
	})
	err := newClient(r).Delete(t.Context(), &MapResponse{Nonce: NewNonce(), Protocol: TCP, InternalPort: 1})
	var re *ResultError
	if !errors.Is(err, ErrNoSuchEntry) || !errors.Is(err, ErrNoResources) || !errors.As(err, &re) ||
		re.Code != NoResources || re.Lifetime != 30*time.Second {
		t.Errorf("err = %v; want ErrNoSuchEntry and a NO_RESOURCES *ResultError", err)
	}
}

func TestResultCodes(t *testing.T) {
	tests := []struct {
		code   ResultCode
		want   error
		shared error
	}{
		{UnsuppVersion, ErrUnsuppVersion, errs.Unsupported},
		{NotAuthorized, ErrNotAuthorized, errs.NotAuthorized},
		{MalformedRequest, ErrMalformedRequest, errs.InvalidArgs},
		{UnsuppOpcode, ErrUnsuppOpcode, errs.Unsupported},
		{UnsuppOption, ErrUnsuppOption, errs.Unsupported},
		{MalformedOption, ErrMalformedOption, errs.InvalidArgs},
		{NetworkFailure, ErrNetworkFailure, errs.NetworkFailure},
		{NoResources, ErrNoResources, errs.NoResources},
		{UnsuppProtocol, ErrUnsuppProtocol, errs.Unsupported},
		{UserExQuota, ErrUserExQuota, errs.NoResources},
		{CannotProvideExternal, ErrPortInUse, errs.PortInUse},
		{AddressMismatch, ErrAddressMismatch, errs.Refused},
		{ExcessiveRemotePeers, ErrExcessiveRemotePeers, errs.NoResources},
		{14, ErrRefused, errs.Refused},
		{255, ErrRefused, errs.Refused},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
				r.Reply(req, respond(req.Data, tt.code, 30, 1000))
			})
			_, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Hour})
			var re *ResultError
			if !errors.As(err, &re) || re.Code != tt.code || re.Opcode != OpMap || re.Lifetime != 30*time.Second {
				t.Fatalf("err = %v (%#v), want *ResultError{MAP, %v, 30s}", err, re, tt.code)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err does not match %v", tt.want)
			}
			if tt.shared != nil && !errors.Is(err, tt.shared) {
				t.Errorf("err does not match the shared %v", tt.shared)
			}
			if tt.code > ExcessiveRemotePeers && !strings.Contains(err.Error(), fmt.Sprint(uint8(tt.code))) {
				t.Errorf("%q does not quote the unknown code %d", err, uint8(tt.code))
			}
			if n := len(r.Requests()); n != 1 {
				t.Errorf("%d requests; an error must end the exchange", n)
			}
		})
	}
}

// An error response that comes with the header alone (as for a request the
// server could not parse) still ends the exchange.
func TestErrorWithHeaderOnly(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, respond(req.Data[:24], MalformedRequest, 0, 1000))
	})
	_, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Hour})
	if !errors.Is(err, ErrMalformedRequest) {
		t.Errorf("err = %v, want ErrMalformedRequest", err)
	}
}

func TestSpeaksNATPMP(t *testing.T) {
	for name, reply := range map[string][]byte{
		"rfc 6886 figure": {0, 0, 0, 1, 0, 0, 0, 9},
		"miniupnpd":       {0, 129, 0, 1, 0, 0, 0, 9},
	} {
		t.Run(name, func(t *testing.T) {
			r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) { r.Reply(req, reply) })
			_, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Hour})
			if !errors.Is(err, ErrSpeaksNATPMP) || !errors.Is(err, errs.Unsupported) {
				t.Errorf("err = %v, want ErrSpeaksNATPMP", err)
			}
			var re *ResultError
			if errors.As(err, &re) {
				t.Errorf("a NAT-PMP server's answer is not a PCP result: %v", re)
			}
		})
	}
}

func TestUnsuppVersionNamesAnotherVersion(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		b := respond(req.Data[:24], UnsuppVersion, 0, 7)
		b[0] = 3 // "I speak version 3"
		r.Reply(req, b)
	})
	_, err := newClient(r).Announce(t.Context())
	var re *ResultError
	if !errors.As(err, &re) || re.Code != UnsuppVersion || re.Version != 3 || errors.Is(err, ErrSpeaksNATPMP) {
		t.Errorf("err = %v, want UNSUPP_VERSION naming version 3", err)
	}
}

func TestResponsesThatDoNotAnswerAreIgnored(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		good := grant(respond(req.Data, Success, 3600, 1000), netip.MustParseAddrPort("203.0.113.7:8080"))
		// Each bad reply reports another external port, so taking one shows.
		bad := func(f func(b []byte) []byte) []byte {
			return f(grant(append([]byte(nil), good...), netip.MustParseAddrPort("192.0.2.66:9")))
		}
		r.Reply(req, bad(func(b []byte) []byte { b[24] ^= 1; return b }))                    // wrong nonce
		r.Reply(req, bad(func(b []byte) []byte { b[36] = UDP; return b }))                   // wrong protocol
		r.Reply(req, bad(func(b []byte) []byte { b[41]++; return b }))                       // wrong internal port
		r.Reply(req, bad(func(b []byte) []byte { b[1] = 0x80 | OpPeer; return b }))          // wrong opcode
		r.Reply(req, bad(func(b []byte) []byte { b[1] &^= 0x80; return b }))                 // not a response
		r.Reply(req, bad(func(b []byte) []byte { return b[:58] }))                           // not a multiple of 4
		r.Reply(req, bad(func(b []byte) []byte { return b[:20] }))                           // too short
		r.Reply(req, bad(func(b []byte) []byte { return b[:40] }))                           // success without its data
		r.Reply(req, bad(func(b []byte) []byte { b[0] = 3; return b }))                      // another version, not UNSUPP_VERSION
		r.Reply(req, bad(func(b []byte) []byte { return append(b, 1, 0, 0, 20) }))           // option overruns the message
		r.Reply(req, bad(func(b []byte) []byte { return append(b, make([]byte, 1100)...) })) // too long
		// An error for another mapping must not end our exchange either.
		r.Reply(req, bad(func(b []byte) []byte { b[24] ^= 1; b[3] = byte(NotAuthorized); return b }))
		r.Reply(req, good)
	})
	m, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 8080, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.Lifetime != time.Hour || m.External.Port() != 8080 {
		t.Errorf("got %+v", m)
	}
	if n := len(r.Requests()); n != 1 {
		t.Errorf("%d requests; the good reply came before any retransmission", n)
	}
}

func TestRepliesFromElsewhereIgnored(t *testing.T) {
	decoys := []*net.UDPConn{listen(t, "127.0.0.2:0"), listen(t, "127.0.0.1:0")}
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		// Perfect answers, nonce and all, but from the wrong place.
		fake := grant(respond(req.Data, Success, 3600, 1000), netip.MustParseAddrPort("198.51.100.66:1"))
		for _, d := range decoys {
			d.WriteToUDPAddrPort(fake, req.From)
		}
		time.Sleep(5 * time.Millisecond)
		fakeServer(r, req)
	})
	m, err := newClient(r).Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 8080, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.External.Addr() != testExternal {
		t.Errorf("external %v came from a decoy", m.External)
	}
}

func listen(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPeer(t *testing.T) {
	remote := netip.MustParseAddrPort("198.51.100.20:443")
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		good := grant(respond(req.Data, Success, 600, 1000), netip.MustParseAddrPort("203.0.113.7:40000"))
		other := append([]byte(nil), good...)
		other[24+36+1]++ // another remote peer port
		r.Reply(req, other)
		r.Reply(req, good)
	})
	p, err := newClient(r).Peer(t.Context(), PeerRequest{Protocol: TCP, InternalPort: 5555, Remote: remote, Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if p.Remote != remote || p.External != netip.MustParseAddrPort("203.0.113.7:40000") || p.Lifetime != 600*time.Second || p.Nonce.IsZero() {
		t.Errorf("got %+v", p)
	}
	d := r.Requests()[0].Data
	if len(d) != 80 || d[1] != OpPeer || binary.BigEndian.Uint16(d[60:62]) != 443 ||
		netip.AddrFrom16([16]byte(d[64:80])) != netip.MustParseAddr("::ffff:198.51.100.20") {
		t.Errorf("PEER request % x", d)
	}
}

func TestAnnounce(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	a, err := newClient(r).Announce(t.Context())
	if err != nil || a.Epoch != 1000 || a.GatewayReset {
		t.Fatalf("Announce = %+v, %v", a, err)
	}
	want := append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, netip.MustParseAddr("::ffff:127.0.0.1").AsSlice()...)
	if d := r.Requests()[0].Data; !bytes.Equal(d, want) {
		t.Errorf("ANNOUNCE request % x, want % x", d, want)
	}
}

func TestClosedPortEndsEarly(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	addr := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close()
	c := &Client{Server: addr}
	start := time.Now()
	_, err := c.Announce(t.Context())
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v; port unreachable should end the wait", d)
	}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want ErrUnsupported wrapping ECONNREFUSED", err)
	}
}

func TestServerRequired(t *testing.T) {
	if _, err := (&Client{}).Announce(t.Context()); !errors.Is(err, ErrNoGateway) {
		t.Errorf("err = %v, want ErrNoGateway", err)
	}
	c := &Client{Server: netip.MustParseAddrPort("[fe80::1%lo]:0")}
	if srv, err := c.server(); err != nil || srv.Port() != Port {
		t.Errorf("server() = %v, %v; want port 5351", srv, err)
	}
}

func TestCancelMidRetry(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{Server: r.Addr()} // IRT 3 s: the second transmission is far off
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Map(ctx, MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Hour})
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned %v after start; the cancel came at 50ms", d)
	}
	// Cancelling is the caller's doing, not the gateway's: no ErrTimeout.
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want context.Canceled alone", err)
	}
}
