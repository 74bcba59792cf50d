package reach

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestCheckVerdicts(t *testing.T) {
	srv := startServer(t, &Server{ProbeTimeout: 500 * time.Millisecond, Burst: 100})
	checker := srv.LocalAddr().String()
	loop := netip.MustParseAddr("127.0.0.1")

	// A TCP application that accepts and says nothing.
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	appPort := uint16(app.Addr().(*net.TCPAddr).Port)
	// A UDP application that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentPort := uint16(silent.LocalAddr().(*net.UDPAddr).Port)

	tests := []struct {
		name     string
		client   Client
		port     uint16
		proto    Proto
		verdict  Verdict
		verified bool
		code     Code
	}{
		{"tcp answering", Client{Answer: true}, freePort(t), TCP, Open, true, CodeEchoed},
		{"tcp application", Client{}, appPort, TCP, Open, false, CodeOpen},
		{"tcp nothing listening", Client{}, freePort(t), TCP, NothingListening, false, CodeRefused},
		{"tcp refused, application elsewhere", Client{LocalPort: appPort}, freePort(t), TCP, Refused, false, CodeRefused},
		{"udp answering", Client{Answer: true}, freePort(t), UDP, Open, true, CodeEchoed},
		{"udp silent application", Client{}, silentPort, UDP, Filtered, false, CodeNoAnswer},
		{"udp nothing listening", Client{}, freePort(t), UDP, NothingListening, false, CodeRefused},
		{"udp over udp, answering", Client{Answer: true, Transport: UDP}, freePort(t), UDP, Open, true, CodeEchoed},
		{"tcp over udp, nothing listening", Client{Transport: UDP}, freePort(t), TCP, NothingListening, false, CodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.client.Check(testCtx(t), checker, tc.port, tc.proto)
			if err != nil {
				t.Fatal(err)
			}
			o := res.IPv4
			if o.Verdict != tc.verdict || o.Verified != tc.verified || o.Code != tc.code {
				t.Fatalf("got %v verified=%v code=%v, want %v verified=%v code=%v (err %v)",
					o.Verdict, o.Verified, o.Code, tc.verdict, tc.verified, tc.code, o.Err)
			}
			if o.Observed.Addr() != loop || o.Observed.Port() == 0 {
				t.Errorf("observed %v, want 127.0.0.1 and a port", o.Observed)
			}
			if res.IPv6.Verdict != Unchecked || res.IPv6.Err != nil {
				t.Errorf("IPv6 of an IPv4-only checker: %+v", res.IPv6)
			}
			if res.Open() != (tc.verdict == Open) {
				t.Errorf("Open() = %v", res.Open())
			}
		})
	}
}

func TestCheckIPv6(t *testing.T) {
	srv := startServer(t, &Server{Addr: "[::1]:0"})
	res, err := (&Client{Answer: true}).Check(testCtx(t), srv.LocalAddr().String(), freePort(t), TCP)
	if err != nil {
		t.Fatal(err)
	}
	if res.IPv6.Verdict != Open || !res.IPv6.Verified || res.IPv6.Observed.Addr() != netip.IPv6Loopback() {
		t.Fatalf("IPv6: %+v", res.IPv6)
	}
	if res.IPv4.Verdict != Unchecked {
		t.Fatalf("IPv4 of an IPv6-only checker: %+v", res.IPv4)
	}
}

// TestCheckAnswerLeavesApplication: with Answer, a port the application holds is
// not taken over; the application's own answer decides.
func TestCheckAnswerLeavesApplication(t *testing.T) {
	srv := startServer(t, &Server{})
	app, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		c, err := app.Accept()
		if err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := uint16(app.Addr().(*net.TCPAddr).Port)
	res, err := (&Client{Answer: true}).Check(testCtx(t), srv.LocalAddr().String(), port, TCP)
	if err != nil {
		t.Fatal(err)
	}
	if res.IPv4.Verdict != Open || res.IPv4.Verified {
		t.Fatalf("%+v", res.IPv4)
	}
	select {
	case <-accepted:
	default:
		t.Fatal("the application never saw the probe")
	}
}

func TestCheckBadArguments(t *testing.T) {
	ctx := testCtx(t)
	if _, err := Check(ctx, "127.0.0.1:1", 0, TCP); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := Check(ctx, "127.0.0.1:1", 80, Proto(3)); err == nil {
		t.Error("protocol 3 accepted")
	}
	if _, err := Check(ctx, "", 80, TCP); err == nil {
		t.Error("empty checker accepted")
	}
	if _, err := (&Client{Network: "ip6"}).Check(ctx, "127.0.0.1", 80, TCP); !errors.Is(err, ErrCheckerDown) {
		t.Errorf("IPv4 checker with Network ip6: %v", err)
	}
}

func TestCheckDefaultPort(t *testing.T) {
	host, port, err := splitHostPortDefault("checker.example")
	if err != nil || host != "checker.example" || port != DefaultPort {
		t.Fatalf("%q %d %v", host, port, err)
	}
	host, port, err = splitHostPortDefault("[2001:db8::1]:" + strconv.Itoa(4000))
	if err != nil || host != "2001:db8::1" || port != 4000 {
		t.Fatalf("%q %d %v", host, port, err)
	}
}

// TestCheckBothFamilies: a checker on every address, named by a host name
// that resolves to 127.0.0.1 and ::1 (a fake DNS server on loopback), gets
// one check per family, each with its own observed address.
func TestCheckBothFamilies(t *testing.T) {
	srv := startServer(t, &Server{Addr: ":0", Burst: 10})
	checker := net.JoinHostPort("checker.test", strconv.Itoa(int(srv.LocalAddr().Port())))
	c := &Client{Answer: true, Resolver: fakeDNS(t)}
	res, err := c.Check(testCtx(t), checker, freePort(t), UDP)
	if err != nil {
		t.Fatal(err)
	}
	if res.IPv4.Verdict != Open || !res.IPv4.Verified || res.IPv4.Observed.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("IPv4: %+v", res.IPv4)
	}
	if res.IPv6.Verdict != Open || !res.IPv6.Verified || res.IPv6.Observed.Addr() != netip.IPv6Loopback() {
		t.Errorf("IPv6: %+v", res.IPv6)
	}
	// Limited to one family.
	c.Network = "ip6"
	if res, err = c.Check(testCtx(t), checker, freePort(t), TCP); err != nil || res.IPv4.Verdict != Unchecked || res.IPv6.Verdict != Open {
		t.Errorf("ip6 only: %+v %v", res, err)
	}
}

// fakeDNS answers every A query with 127.0.0.1 and every AAAA query with ::1.
func fakeDNS(t *testing.T) *net.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, src, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			switch q.Type {
			case dnsmessage.TypeA:
				b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			case dnsmessage.TypeAAAA:
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: netip.IPv6Loopback().As16()})
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, src)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}
