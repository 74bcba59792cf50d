package natpmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestExternalAddress(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeGateway)
	res, err := newClient(r).ExternalAddress(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Addr != netip.MustParseAddr("203.0.113.7") || res.Epoch != 1000 || res.GatewayReset {
		t.Errorf("got %+v", res)
	}
	reqs := r.Requests()
	if len(reqs) != 1 || !bytes.Equal(reqs[0].Data, []byte{0, 0}) {
		t.Errorf("requests %v, want one [0 0]", reqs)
	}
}

func TestMapUsesGrantedPortAndLifetime(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		// The gateway grants another port and a shorter lifetime.
		r.Reply(req, mapReply(2, Success, 77, 8080, 40001, 600))
	})
	res, err := newClient(r).Map(t.Context(), TCP, 8080, 80, 90*time.Minute+500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := MapResponse{Protocol: TCP, InternalPort: 8080, ExternalPort: 40001, Lifetime: 600 * time.Second, Epoch: 77}
	if *res != want {
		t.Errorf("got %+v, want %+v", *res, want)
	}
	// 90 min 0.5 s goes out as 5401 s: rounded up, never shortened.
	wantReq := []byte{0, 2, 0, 0, 0x1f, 0x90, 0, 80, 0, 0, 0x15, 0x19}
	if got := r.Requests()[0].Data; !bytes.Equal(got, wantReq) {
		t.Errorf("request % x, want % x", got, wantReq)
	}
}

func TestMapUDP(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeGateway)
	res, err := newClient(r).Map(t.Context(), UDP, 5000, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != UDP || res.ExternalPort != 5000 || res.Lifetime != time.Hour {
		t.Errorf("got %+v", res)
	}
	if got := r.Requests()[0].Data[1]; got != 1 {
		t.Errorf("opcode %d, want 1 (UDP)", got)
	}
}

func TestDelete(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeGateway)
	c := newClient(r)
	if err := c.Delete(t.Context(), TCP, 8080); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAll(t.Context(), UDP); err != nil {
		t.Fatal(err)
	}
	reqs := r.Requests()
	want := [][]byte{
		{0, 2, 0, 0, 0x1f, 0x90, 0, 0, 0, 0, 0, 0}, // §3.4: suggested port 0, lifetime 0
		{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},       // internal port 0 = all
	}
	if len(reqs) != 2 || !bytes.Equal(reqs[0].Data, want[0]) || !bytes.Equal(reqs[1].Data, want[1]) {
		t.Errorf("requests %v, want %v", reqs, want)
	}
}

func TestDeleteManualMappingRefused(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, mapReply(2, NotAuthorized, 5, 8080, 0, 0))
	})
	err := newClient(r).Delete(t.Context(), TCP, 8080)
	if !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("err = %v, want ErrNotAuthorized", err)
	}
}

func TestResultCodes(t *testing.T) {
	tests := []struct {
		code ResultCode
		want error
	}{
		{UnsupportedVersion, ErrUnsupportedVersion},
		{NotAuthorized, errs.NotAuthorized},
		{NetworkFailure, errs.NetworkFailure},
		{OutOfResources, errs.NoResources},
		{UnsupportedOpcode, ErrUnsupportedOpcode},
		{6, errs.Refused},
		{0xffff, errs.Refused},
	}
	for _, tt := range tests {
		for _, short := range []bool{false, true} {
			t.Run(tt.code.String(), func(t *testing.T) {
				r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
					b := mapReply(1, tt.code, 9, 7000, 0, 0)
					if short {
						b = b[:8] // only the common part, as some gateways send errors
					}
					r.Reply(req, b)
				})
				_, err := newClient(r).Map(t.Context(), UDP, 7000, 7000, time.Hour)
				var re *ResultError
				if !errors.As(err, &re) || re.Code != tt.code || re.Op != OpMapUDP {
					t.Fatalf("err = %v, want *ResultError{Op 1, Code %d}", err, tt.code)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("err = %v does not match %v", err, tt.want)
				}
				if tt.code > UnsupportedOpcode && !strings.Contains(err.Error(), fmt.Sprint(uint16(tt.code))) {
					t.Errorf("%q does not quote the unknown code %d", err, uint16(tt.code))
				}
				if n := len(r.Requests()); n != 1 {
					t.Errorf("%d requests; an error reply must end the exchange", n)
				}
			})
		}
	}
	// Both unsupported codes say "NAT-PMP is not available" to a caller
	// testing the shared sentinel.
	for _, e := range []error{ErrUnsupportedVersion, ErrUnsupportedOpcode} {
		if !errors.Is(e, errs.Unsupported) {
			t.Errorf("%v does not match errs.Unsupported", e)
		}
	}
}

// miniupnpd echoes 128+op in its unsupported-version reply where RFC 6886's
// figure shows 0; a PCP-only server answers with a PCP header. All three mean
// "no NAT-PMP here", whatever the opcode byte says.
func TestUnsupportedVersionAnyShape(t *testing.T) {
	pcpReply := make([]byte, 24)
	pcpReply[0], pcpReply[1], pcpReply[3] = 2, 0x80|1, 1
	for name, reply := range map[string][]byte{
		"rfc figure op 0":  {0, 0, 0, 1, 0, 0, 0, 5},
		"miniupnpd 128+op": {0, 130, 0, 1, 0, 0, 0, 5},
		"pcp server":       pcpReply,
	} {
		t.Run(name, func(t *testing.T) {
			r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) { r.Reply(req, reply) })
			_, err := newClient(r).Map(t.Context(), TCP, 1, 1, time.Hour)
			if !errors.Is(err, ErrUnsupportedVersion) || !errors.Is(err, errs.Unsupported) {
				t.Fatalf("err = %v, want ErrUnsupportedVersion", err)
			}
		})
	}
}

func TestIgnoresPacketsThatDoNotAnswer(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, []byte{1, 2, 3})                                // garbage
		r.Reply(req, []byte{0, 0, 0, 0})                             // too short
		r.Reply(req, req.Data)                                       // our own request echoed
		r.Reply(req, mapReply(1, Success, 1, 8080, 1111, 60))        // UDP, we asked TCP
		r.Reply(req, mapReply(2, Success, 1, 9999, 2222, 60))        // another internal port
		r.Reply(req, addrReply(Success, 1, netip.IPv4Unspecified())) // another opcode
		r.Reply(req, mapReply(2, Success, 1, 8080, 0, 60)[:12])      // truncated success
		r.Reply(req, mapReply(2, Success, 1, 8080, 8081, 60))        // the answer
	})
	res, err := newClient(r).Map(t.Context(), TCP, 8080, 8080, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalPort != 8081 {
		t.Errorf("external port %d, want 8081 from the one matching reply", res.ExternalPort)
	}
}

func TestRepliesFromElsewhereIgnored(t *testing.T) {
	// Decoys on another address and on another port of the same address
	// answer first, with different values.
	decoys := []*net.UDPConn{listen(t, "127.0.0.2:0"), listen(t, "127.0.0.1:0")}
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		for _, d := range decoys {
			d.WriteToUDPAddrPort(addrReply(Success, 1, netip.MustParseAddr("198.51.100.66")), req.From)
		}
		time.Sleep(5 * time.Millisecond) // let the decoys land first
		fakeGateway(r, req)
	})
	res, err := newClient(r).ExternalAddress(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Addr != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("address %v came from a decoy", res.Addr)
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

func TestRetransmissionSchedule(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil) // silent
	c := &Client{Gateway: r.Addr(), InitialTimeout: 30 * time.Millisecond, MaxAttempts: 4}
	start := time.Now()
	_, err := c.ExternalAddress(t.Context())
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout without a context error", err)
	}
	reqs := r.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d transmissions, want MaxAttempts = 4", len(reqs))
	}
	// Gaps 30, 60, 120 ms; then a 240 ms wait before giving up (450 ms in
	// all). Timers never fire early, so the lower bounds are exact; the upper
	// ones leave room for a loaded machine (TestSchedule checks the values).
	for i := 1; i < len(reqs); i++ {
		gap := reqs[i].At.Sub(reqs[i-1].At)
		want := 30 * time.Millisecond << (i - 1)
		if gap < want-2*time.Millisecond || gap > 2*want+150*time.Millisecond {
			t.Errorf("gap %d = %v, want about %v", i, gap, want)
		}
	}
	if elapsed < 448*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("gave up after %v, want about 450ms", elapsed)
	}
}

func TestSchedule(t *testing.T) {
	next := (&Client{}).schedule()
	for i := range 9 {
		wait, ok := next()
		if want := 250 * time.Millisecond << i; !ok || wait != want {
			t.Errorf("transmission %d: wait %v, %v; want %v", i+1, wait, ok, want)
		}
	}
	if _, ok := next(); ok {
		t.Error("a 10th transmission; RFC 6886 §3.1 stops after 9")
	}
	next = (&Client{InitialTimeout: time.Second, MaxAttempts: 2}).schedule()
	a, _ := next()
	b, _ := next()
	_, ok := next()
	if a != time.Second || b != 2*time.Second || ok {
		t.Errorf("custom schedule %v, %v, %v", a, b, ok)
	}
}

func TestAnswerToALaterTransmission(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		if req.N == 3 {
			fakeGateway(r, req)
		}
	})
	var logs bytes.Buffer
	c := newClient(r)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.ExternalAddress(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests()); n != 3 {
		t.Errorf("%d transmissions, want 3", n)
	}
	if n := strings.Count(logs.String(), "retransmitting"); n != 2 {
		t.Errorf("%d retransmissions logged, want 2:\n%s", n, logs.String())
	}
}

func TestContextCancelMidRetry(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{Gateway: r.Addr(), InitialTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Map(ctx, TCP, 1234, 0, time.Hour)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned %v after the cancel", d)
	}
	// Cancelling is the caller's doing, not the gateway's: no ErrTimeout.
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want context.Canceled alone", err)
	}
}

func TestContextDeadline(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{Gateway: r.Addr()} // RFC schedule: would take 2 minutes
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ExternalAddress(ctx)
	if d := time.Since(start); d < 398*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("returned after %v, the deadline was 400ms", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want DeadlineExceeded and ErrTimeout", err)
	}
	// 250 ms schedule: sent at 0 and 250 ms, the next would be at 750.
	if n := requestsAtLeast(r, 2); n != 2 {
		t.Errorf("%d transmissions in 400ms, want 2", n)
	}
}

func TestClosedPortEndsEarly(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	addr := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close() // nothing listens there now: the kernel answers port unreachable
	c := &Client{Gateway: addr, InitialTimeout: 5 * time.Second}
	start := time.Now()
	_, err := c.ExternalAddress(t.Context())
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v; ICMP port unreachable should end the wait", d)
	}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want ErrUnsupported wrapping ECONNREFUSED", err)
	}
}

func TestRequestsAreSerialised(t *testing.T) {
	const n = 4
	var (
		mu          sync.Mutex
		outstanding bool
		overlap     bool
	)
	pending := make(chan udptest.Request, 2*n)
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		mu.Lock()
		if outstanding {
			overlap = true
		}
		outstanding = true
		mu.Unlock()
		pending <- req
	})
	// The replier answers each request 20 ms after it arrived.
	replied := make(chan struct{})
	go func() {
		defer close(replied)
		for range n {
			req := <-pending
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			outstanding = false
			mu.Unlock()
			fakeGateway(r, req)
		}
	}()
	c := &Client{Gateway: r.Addr(), InitialTimeout: time.Second}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Map(t.Context(), TCP, uint16(1000+i), 0, time.Hour); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	<-replied
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("a request arrived while another was unanswered")
	}
	if got := len(r.Requests()); got != n {
		t.Errorf("%d requests, want %d", got, n)
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c := &Client{Gateway: r.Addr(), InitialTimeout: time.Second, MaxAttempts: 1}
	first, cancelFirst := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ExternalAddress(first)
	}()
	for len(r.Requests()) == 0 { // the first call holds the lock
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := c.ExternalAddress(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want a timeout while waiting for the lock", err)
	}
	if n := len(r.Requests()); n != 1 {
		t.Errorf("%d requests, the second call must not have sent", n)
	}
	cancelFirst()
	<-done
}

func TestArguments(t *testing.T) {
	ctx := t.Context()
	for name, c := range map[string]*Client{
		"zero gateway": {},
		"ipv6 gateway": {Gateway: netip.MustParseAddrPort("[::1]:5351")},
	} {
		if _, err := c.ExternalAddress(ctx); !errors.Is(err, ErrNoGateway) {
			t.Errorf("%s: err = %v, want ErrNoGateway", name, err)
		}
	}
	c := &Client{Gateway: netip.MustParseAddrPort("127.0.0.1:9")}
	if _, err := c.Map(ctx, TCP, 80, 80, 0); err == nil {
		t.Error("Map with lifetime 0 must be refused (it would delete)")
	}
	if _, err := c.Map(ctx, TCP, 0, 80, time.Hour); err == nil {
		t.Error("Map of internal port 0 must be refused")
	}
	if _, err := c.Map(ctx, Protocol(3), 80, 80, time.Hour); err == nil {
		t.Error("Map with protocol 3 must be refused")
	}
	if err := c.Delete(ctx, TCP, 0); err == nil {
		t.Error("Delete of port 0 must be refused (DeleteAll)")
	}
}

func TestDefaultPort(t *testing.T) {
	c := &Client{Gateway: netip.MustParseAddrPort("192.0.2.1:0")}
	gw, err := c.gateway()
	if err != nil || gw.Port() != 5351 {
		t.Errorf("gateway() = %v, %v; want port 5351", gw, err)
	}
	c.Gateway = netip.MustParseAddrPort("[::ffff:192.0.2.1]:0")
	if gw, err := c.gateway(); err != nil || gw.Addr() != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("IPv4-mapped gateway: %v, %v", gw, err)
	}
}
