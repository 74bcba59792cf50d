package reach

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// recordDials makes s record every probe target before dialling it.
func recordDials(s *Server) func() []netip.AddrPort {
	var mu sync.Mutex
	var got []netip.AddrPort
	s.dial = func(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
		mu.Lock()
		got = append(got, remote)
		mu.Unlock()
		return dialProbe(ctx, network, local, remote)
	}
	return func() []netip.AddrPort {
		mu.Lock()
		defer mu.Unlock()
		return append([]netip.AddrPort(nil), got...)
	}
}

// TestServerProbesOnlyObservedSource: a request cannot aim the checker at
// another address. One that tries to (an address and port written into the
// padding) is refused as malformed; valid requests from two sources are
// probed at those sources and nowhere else, and the decoy sees nothing.
func TestServerProbesOnlyObservedSource(t *testing.T) {
	s := &Server{Burst: 100}
	dials := recordDials(s)
	startServer(t, s)

	decoy, err := net.Listen("tcp", "127.0.0.99:0")
	if err != nil {
		t.Fatal(err)
	}
	defer decoy.Close()
	decoyAP := netip.MustParseAddrPort(decoy.Addr().String())
	var decoyHits sync.WaitGroup
	hits := 0
	decoyHits.Add(1)
	go func() {
		defer decoyHits.Done()
		for {
			c, err := decoy.Accept()
			if err != nil {
				return
			}
			hits++
			c.Close()
		}
	}()

	// The request names the decoy in its padding, and its port.
	req := appendRequest(nil, request{proto: TCP, port: decoyAP.Port(), nonce: Nonce{1}})
	ip := decoyAP.Addr().As16()
	copy(req[28:44], ip[:])
	req[44], req[45] = byte(decoyAP.Port()>>8), byte(decoyAP.Port())
	a := mustAnswer(t, rawAsk(t, s.LocalAddr(), netip.MustParseAddr("127.0.0.3"), req))
	if a.code != CodeBad {
		t.Fatalf("request naming another address: verdict %v, want BAD", a.code)
	}

	// Valid requests for the decoy's port, from two other sources.
	for _, src := range []string{"127.0.0.3", "127.0.0.4"} {
		req := appendRequest(nil, request{proto: TCP, port: decoyAP.Port(), nonce: Nonce{2}})
		a := mustAnswer(t, rawAsk(t, s.LocalAddr(), netip.MustParseAddr(src), req))
		if a.observed.Addr().String() != src {
			t.Errorf("observed %v, want %s", a.observed, src)
		}
		if a.code != CodeRefused {
			t.Errorf("from %s: verdict %v, want REFUSED (nothing listens there)", src, a.code)
		}
	}
	s.Close()
	decoy.Close()
	decoyHits.Wait()
	if hits != 0 {
		t.Errorf("the decoy got %d connections", hits)
	}
	got := dials()
	want := []string{"127.0.0.3", "127.0.0.4"}
	if len(got) != len(want) {
		t.Fatalf("probes to %v, want one to each of %v", got, want)
	}
	for i, d := range got {
		if d.Addr().String() != want[i] || d.Port() != decoyAP.Port() {
			t.Errorf("probe %d went to %v, want %s:%d", i, d, want[i], decoyAP.Port())
		}
	}
}

// TestServerRateLimit: a flood from one source gets Burst probes (plus what
// the rate refills meanwhile) and LIMITED for the rest; another source is
// still served.
func TestServerRateLimit(t *testing.T) {
	const burst, flood = 3, 40
	s := &Server{Rate: 1, Burst: burst}
	startServer(t, s)
	target := freePort(t)
	start := time.Now()
	limited := 0
	for i := range flood {
		req := appendRequest(nil, request{proto: TCP, port: target, nonce: Nonce{byte(i)}})
		a := mustAnswer(t, rawAsk(t, s.LocalAddr(), netip.MustParseAddr("127.0.0.5"), req))
		if a.nonce != (Nonce{byte(i)}) {
			t.Fatalf("answer %d carries another nonce", i)
		}
		if a.code == CodeLimited {
			limited++
			if a.retryAfter == 0 {
				t.Error("LIMITED without a retry time")
			}
		}
	}
	refill := int(time.Since(start).Seconds()) + 1 // Rate is 1/s
	st := s.Stats()
	if int(st.Probes) > burst+refill || int(st.Probes) < burst {
		t.Errorf("%d probes for a flood of %d in %v, want between %d and %d", st.Probes, flood, time.Since(start), burst, burst+refill)
	}
	if limited != flood-int(st.Probes) || int(st.Limited) != limited {
		t.Errorf("%d LIMITED answers, stats %d, probes %d", limited, st.Limited, st.Probes)
	}
	// Another source is not held back by the first one's flood.
	req := appendRequest(nil, request{proto: TCP, port: target, nonce: Nonce{9}})
	if a := mustAnswer(t, rawAsk(t, s.LocalAddr(), netip.MustParseAddr("127.0.0.6"), req)); a.code != CodeRefused {
		t.Errorf("second source: %v", a.code)
	}
}

// TestServerProbeCap: with MaxProbes 1 and a probe in flight, the next
// request is answered BUSY at once.
func TestServerProbeCap(t *testing.T) {
	s := &Server{MaxProbes: 1, Burst: 10, ProbeTimeout: 2 * time.Second}
	startServer(t, s)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	port := uint16(silent.LocalAddr().(*net.UDPAddr).Port)
	first := make(chan answer, 1)
	go func() {
		req := appendRequest(nil, request{proto: UDP, port: port, nonce: Nonce{1}})
		a, _ := parseAnswer(rawAsk(t, s.LocalAddr(), netip.Addr{}, req))
		first <- a
	}()
	buf := make([]byte, 64)
	silent.SetReadDeadline(time.Now().Add(testTimeout))
	if _, _, err := silent.ReadFrom(buf); err != nil { // the first probe is in flight
		t.Fatal(err)
	}
	req := appendRequest(nil, request{proto: UDP, port: port, nonce: Nonce{2}})
	if a := mustAnswer(t, rawAsk(t, s.LocalAddr(), netip.Addr{}, req)); a.code != CodeBusy {
		t.Fatalf("second request while the first probes: %v, want BUSY", a.code)
	}
	if a := <-first; a.code != CodeNoAnswer {
		t.Fatalf("first: %v", a.code)
	}
}

// TestServerUDPNoAmplification counts, at the receiving sockets, every byte
// the checker sends for a mix of valid, malformed and oversized datagrams,
// and for a flood over the rate limit: never more than was sent to it.
func TestServerUDPNoAmplification(t *testing.T) {
	s := &Server{Burst: 20, ProbeTimeout: 300 * time.Millisecond}
	startServer(t, s)
	ctl, err := net.ListenPacket("udp", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	victim, err := net.ListenPacket("udp", "127.0.0.7:0") // where probes go
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	vport := uint16(victim.LocalAddr().(*net.UDPAddr).Port)
	dst := net.UDPAddrFromAddrPort(s.LocalAddr())

	// Malformed ones first, while the source is under its limit, so that
	// their answers count; then more valid requests than the burst.
	short := appendRequest(nil, request{proto: UDP, port: vport})[:60]
	bad := appendRequest(nil, request{proto: UDP, port: vport})
	bad[4] = 9 // unknown version
	msgs := [][]byte{short, bad, make([]byte, 1400), []byte("U"), append([]byte("UPRC"), make([]byte, 600)...)}
	for i := range 30 {
		msgs = append(msgs, appendRequest(nil, request{proto: UDP, port: vport, nonce: Nonce{byte(i)}}))
	}
	sent := 0
	for _, m := range msgs {
		if _, err := ctl.WriteTo(m, dst); err != nil {
			t.Fatal(err)
		}
		sent += len(m)
	}
	waitFor(t, "every datagram handled", func() bool {
		st := s.Stats()
		return st.UDPBytesIn == uint64(sent) && len(s.probes) == 0
	})
	got := drain(t, ctl) + drain(t, victim)
	st := s.Stats()
	t.Logf("sent %d bytes, received %d; server counted in %d out %d, %d limited", sent, got, st.UDPBytesIn, st.UDPBytesOut, st.Limited)
	if got > sent || st.UDPBytesOut > st.UDPBytesIn {
		t.Fatalf("amplification: %d bytes in, %d out", sent, got)
	}
	if st.Limited == 0 || got == 0 {
		t.Fatalf("the test did not exercise the limit (%d) or the answers (%d bytes)", st.Limited, got)
	}
}

// drain reads what has arrived on pc until it has been quiet for a moment.
func drain(t *testing.T, pc net.PacketConn) int {
	t.Helper()
	buf := make([]byte, 2048)
	total := 0
	for {
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return total
		}
		total += n
	}
}

func TestServerCloseIdempotentAndPrompt(t *testing.T) {
	s := &Server{ReadTimeout: time.Minute}
	startServer(t, s)
	c, err := net.Dial("tcp", s.LocalAddr().String()) // sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the connection to be accepted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 1
	})
	done := make(chan struct{})
	go func() { s.Close(); s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("Close waited for an idle connection")
	}
	if err := s.Start(); err == nil {
		t.Error("a closed server started again")
	}
}

// TestServerZeroValue: the zero value serves on port 3478 of every address,
// IPv4 and IPv6, checks and STUN alike. (Tests run in a namespace of their
// own, where the port is free.)
func TestServerZeroValue(t *testing.T) {
	var s Server
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalAddr().Port() != DefaultPort {
		t.Fatalf("listening on %v", s.LocalAddr())
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		checker := net.JoinHostPort(host, "3478")
		seen, err := STUN(testCtx(t), checker)
		if err != nil || seen.Addr().String() != host {
			t.Errorf("STUN to %s: %v %v", checker, seen, err)
		}
		res, err := (&Client{Answer: true}).Check(testCtx(t), host, freePort(t), TCP)
		if err != nil || !res.Open() {
			t.Errorf("check via %s: %+v %v", host, res, err)
		}
	}
}

// TestServerUDPRepeatWhileProbing: a client's repeats of a UDP request that
// arrive while its probe is under way cause no second probe.
func TestServerUDPRepeatWhileProbing(t *testing.T) {
	s := &Server{Burst: 10, ProbeTimeout: 2 * time.Second}
	startServer(t, s)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	port := uint16(silent.LocalAddr().(*net.UDPAddr).Port)
	ctl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	req := appendRequest(nil, request{proto: UDP, port: port, nonce: Nonce{3}})
	dst := net.UDPAddrFromAddrPort(s.LocalAddr())
	for range 3 {
		ctl.WriteTo(req, dst)
	}
	ctl.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 64)
	n, _, err := ctl.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if a := mustAnswer(t, buf[:n]); a.code != CodeNoAnswer {
		t.Fatalf("verdict %v", a.code)
	}
	if st := s.Stats(); st.Probes != 1 || st.Requests != 3 {
		t.Fatalf("%d probes for %d copies of one request", st.Probes, st.Requests)
	}
}
