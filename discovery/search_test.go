package discovery

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// An answer that arrives after 150 ms is reported then, not at the end of
// some window: the context here allows 10 s.
func TestSearchReportsAnswersAsTheyArrive(t *testing.T) {
	const delay = 150 * time.Millisecond
	resp := newResponder(t, "127.0.0.2:0", delay, echoST("http://127.0.0.2:5000/rootDesc.xml", "uuid:gw"))
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}}

	start := time.Now()
	got, at := searchUntil(t, s, 1, 10*time.Second)
	elapsed := time.Since(start)
	if len(got) != 1 {
		t.Fatalf("got %d answers, want 1", len(got))
	}
	if at[0] < delay || at[0] > delay+time.Second {
		t.Errorf("first answer after %v; the responder answered after %v", at[0], delay)
	}
	if elapsed > 2*time.Second {
		t.Errorf("Search returned after %v, long after the answer and the cancel", elapsed)
	}
	r := got[0]
	if r.From.Addr() != resp.Addr.Addr() || r.ST != TargetIGD1 || r.USN != "uuid:gw::"+TargetIGD1 {
		t.Errorf("answer %+v", r)
	}
	if r.Location.String() != "http://127.0.0.2:5000/rootDesc.xml" {
		t.Errorf("Location %s", r.Location)
	}
}

// With a Logger, every search sent and every answer received is a debug
// record (what `upnpmap -v` shows).
func TestSearchLogsExchanges(t *testing.T) {
	resp := newResponder(t, "127.0.0.2:0", 0, echoST("http://127.0.0.2:5000/rootDesc.xml", "uuid:gw"))
	var logs syncBuffer
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if got, _ := searchUntil(t, s, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("%d answers", len(got))
	}
	out := logs.String()
	for _, want := range []string{`msg="ssdp: search sent"`, "st=" + TargetIGD1, `msg="ssdp: answer"`, "from=" + resp.Addr.String(),
		"location=http://127.0.0.2:5000/rootDesc.xml"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

// Each request goes out several times, well formed: HOST names the
// destination, MAN is quoted, unicast carries MX 1.
func TestSearchRepeatsRequests(t *testing.T) {
	resp := newResponder(t, "127.0.0.2:0", 0, func(ssdpRequest) [][]byte { return nil })
	s := &Searcher{
		Unicast: []netip.AddrPort{resp.Addr},
		Resend:  []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Search(ctx, func(Response) { t.Error("unexpected answer") }); err != nil {
		t.Fatal(err)
	}
	reqs := resp.Requests()
	if len(reqs) != 3*len(defaultTargets) {
		t.Fatalf("responder saw %d requests, want %d (3 rounds × %d targets)", len(reqs), 3*len(defaultTargets), len(defaultTargets))
	}
	perTarget := map[string]int{}
	for _, r := range reqs {
		if r.Start != "M-SEARCH * HTTP/1.1" {
			t.Errorf("request line %q", r.Start)
		}
		if r.Headers["HOST"] != resp.Addr.String() {
			t.Errorf("HOST %q, want %s", r.Headers["HOST"], resp.Addr)
		}
		if r.Headers["MAN"] != `"ssdp:discover"` {
			t.Errorf("MAN %q", r.Headers["MAN"])
		}
		if r.Headers["MX"] != "1" {
			t.Errorf("unicast MX %q, want 1", r.Headers["MX"])
		}
		perTarget[r.Headers["ST"]]++
	}
	for _, tg := range defaultTargets {
		if perTarget[tg] != 3 {
			t.Errorf("target %s sent %d times, want 3", tg, perTarget[tg])
		}
	}
	// The rounds are spread out, not sent in one burst.
	if span := reqs[len(reqs)-1].At.Sub(reqs[0].At); span < 30*time.Millisecond {
		t.Errorf("all rounds within %v", span)
	}
}

// The same answer heard again (resends, or a device repeating itself) is
// reported once; a different ST or USN is a different answer.
func TestSearchDeduplicates(t *testing.T) {
	loc := "http://127.0.0.2:5000/rootDesc.xml"
	resp := newResponder(t, "127.0.0.2:0", 0, func(req ssdpRequest) [][]byte {
		st := req.Headers["ST"]
		a := okAnswer(loc, st, "uuid:gw::"+st)
		return [][]byte{a, a, a} // three copies of each
	})
	s := &Searcher{
		Unicast: []netip.AddrPort{resp.Addr},
		Targets: []string{TargetIGD1, TargetWANIPConn1},
		Resend:  []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	seen := map[string]int{}
	if err := s.Search(ctx, func(r Response) { seen[r.ST]++ }); err != nil {
		t.Fatal(err)
	}
	if len(resp.Requests()) != 6 {
		t.Fatalf("responder saw %d requests, want 6", len(resp.Requests()))
	}
	if len(seen) != 2 || seen[TargetIGD1] != 1 || seen[TargetWANIPConn1] != 1 {
		t.Errorf("answers per ST: %v, want one each of two", seen)
	}
}

// MaxResponses bounds what one search reports.
func TestSearchMaxResponses(t *testing.T) {
	n := 0
	resp := newResponder(t, "127.0.0.2:0", 0, func(req ssdpRequest) [][]byte {
		var out [][]byte
		for i := 0; i < 10; i++ {
			n++
			out = append(out, okAnswer("http://127.0.0.2:5000/d.xml", "upnp:rootdevice", "uuid:"+strings.Repeat("x", n)))
		}
		return out
	})
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{"upnp:rootdevice"}, MaxResponses: 4, Resend: []time.Duration{0}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	count := 0
	if err := s.Search(ctx, func(Response) { count++ }); err != nil {
		t.Fatal(err)
	}
	if count != 4 {
		t.Errorf("reported %d answers, want MaxResponses=4", count)
	}
}

// Garbage, oversized datagrams, error statuses and answers without LOCATION
// are dropped; the good answer after them still arrives.
func TestSearchIgnoresBadDatagrams(t *testing.T) {
	good := okAnswer("http://127.0.0.2:5000/d.xml", TargetIGD1, "uuid:gw::"+TargetIGD1)
	resp := newResponder(t, "127.0.0.2:0", 0, func(req ssdpRequest) [][]byte {
		return [][]byte{
			[]byte("\x00\x01\x02garbage"),
			append(append([]byte{}, good...), make([]byte, MaxDatagramSize)...), // too big
			[]byte("HTTP/1.1 500 Internal Server Error\r\nST: x\r\nLOCATION: http://127.0.0.2/\r\n\r\n"),
			[]byte("HTTP/1.1 200 OK\r\nST: " + TargetIGD1 + "\r\n\r\n"),
			[]byte("HTTP/1.1 200 OK\r\nST: " + TargetIGD1 + "\r\nLOCATION: file:///etc/passwd\r\n\r\n"),
			{},
			good,
		}
	})
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}, Resend: []time.Duration{0}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var got []Response
	if err := s.Search(ctx, func(r Response) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].USN != "uuid:gw::"+TargetIGD1 {
		t.Fatalf("got %+v, want only the good answer", got)
	}
}

// Some routers answer from a port other than 1900 (Tailscale #7377); the
// answer is still accepted.
func TestSearchAcceptsAnySourcePort(t *testing.T) {
	resp := newResponder(t, "127.0.0.2:0", 0, echoST("http://127.0.0.2:5000/d.xml", "uuid:gw"))
	resp.replyFromOtherPort(t)
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}}
	got, _ := searchUntil(t, s, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatal("no answer from the other port")
	}
	if got[0].From == resp.Addr {
		t.Errorf("answer came from the listening port %v; the test did not test anything", got[0].From)
	}
}

// Cancelling returns promptly and releases everything (goleak in TestMain).
func TestSearchCancelIsPrompt(t *testing.T) {
	resp := newResponder(t, "127.0.0.2:0", 0, func(ssdpRequest) [][]byte { return nil })
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Search(ctx, func(Response) {}) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Search after cancel: %v, want nil", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Search took %v to return after cancel", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Search did not return after cancel")
	}
}

func TestSearchChannel(t *testing.T) {
	resp := newResponder(t, "127.0.0.2:0", 20*time.Millisecond, echoST("http://127.0.0.2:5000/d.xml", "uuid:gw"))
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch, err := s.Responses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := <-ch
	if !ok || r.From.Addr() != resp.Addr.Addr() {
		t.Fatalf("first answer %+v %v", r, ok)
	}
	cancel()
	for range ch { // closed once everything is released
	}
}

func TestSearchArguments(t *testing.T) {
	ctx := context.Background()
	gw := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:1900")}
	cases := map[string]*Searcher{
		"nothing to search": {},
		"empty targets":     {Unicast: gw, Targets: []string{}},
		"header injection":  {Unicast: gw, Targets: []string{"ssdp:all\r\nX: y"}},
	}
	for name, s := range cases {
		if err := s.Search(ctx, func(Response) {}); !errors.Is(err, ErrInvalidArgs) {
			t.Errorf("%s: %v, want ErrInvalidArgs", name, err)
		}
	}
	if err := (&Searcher{Unicast: gw}).Search(ctx, nil); !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("nil callback: %v", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := (&Searcher{Unicast: gw}).Search(done, func(Response) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
}

// A multicast search on lo, to a group the responder joined on lo inside
// the test namespace: the group, HOST and MX are right, and a socket that
// fails on a bogus interface does not stop the search.
func TestSearchMulticastOnLoopback(t *testing.T) {
	lo := loopbackInterface(t)
	group := netip.MustParseAddr("239.255.255.250")

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	resp := newResponder(t, "0.0.0.0:"+strconv.Itoa(port), 0, echoST("http://127.0.0.1:5000/d.xml", "uuid:mc"))
	if err := ipv4.NewPacketConn(resp.conn).JoinGroup(lo, &net.UDPAddr{IP: group.AsSlice()}); err != nil {
		t.Fatalf("joining the group on lo: %v", err)
	}

	bogus := net.Interface{Index: 999999, Name: "bogus0", Flags: net.FlagUp | net.FlagMulticast}
	var logs syncBuffer
	s := &Searcher{
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Multicast:  true,
		Interfaces: []net.Interface{bogus, *lo},
		Group:      netip.AddrPortFrom(group, uint16(port)),
		Targets:    []string{TargetIGD1},
		MX:         9, // clamped to 5
	}
	got, _ := searchUntil(t, s, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("no answer to the multicast search")
	}
	reqs := resp.Requests()
	if len(reqs) == 0 {
		t.Fatal("responder saw nothing")
	}
	r := reqs[0]
	if want := "239.255.255.250:" + strconv.Itoa(port); r.Headers["HOST"] != want {
		t.Errorf("HOST %q, want %q", r.Headers["HOST"], want)
	}
	if r.Headers["MX"] != "5" {
		t.Errorf("MX %q, want 5 (clamped)", r.Headers["MX"])
	}
	if r.From.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("request from %v, want lo's address", r.From)
	}
	if !strings.Contains(logs.String(), "socket=bogus0/ipv4") {
		t.Errorf("the bogus interface's failure was not logged:\n%s", logs.String())
	}
}

// With only unusable interfaces and nothing else, the search fails at once.
func TestSearchNoSocket(t *testing.T) {
	bogus := net.Interface{Index: 999999, Name: "bogus0", Flags: net.FlagUp | net.FlagMulticast}
	s := &Searcher{Multicast: true, Interfaces: []net.Interface{bogus}}
	err := s.Search(context.Background(), func(Response) {})
	if !errors.Is(err, ErrNoSocket) || !strings.Contains(err.Error(), "bogus0") {
		t.Errorf("got %v, want ErrNoSocket naming bogus0", err)
	}
	// Unicast to an address with no route (the namespace has none) fails
	// to send and is reported, not waited out.
	s = &Searcher{Unicast: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:1900")}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Search(ctx, func(Response) {})
	if !errors.Is(err, ErrNoSocket) || time.Since(start) > time.Second {
		t.Errorf("unroutable gateway: %v after %v, want ErrNoSocket at once", err, time.Since(start))
	}
}

// IPv6: unicast to ::1, and the IPv6 multicast path pointed at ::1 (the
// namespace's lo has no IPv6 multicast route).
func TestSearchIPv6(t *testing.T) {
	resp := newResponder(t, "[::1]:0", 0, echoST("http://[::1]:5000/d.xml", "uuid:v6"))
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}}
	got, _ := searchUntil(t, s, 1, 5*time.Second)
	if len(got) != 1 || got[0].Location.String() != "http://[::1]:5000/d.xml" {
		t.Fatalf("unicast over IPv6: %+v", got)
	}
	if h := resp.Requests()[0].Headers["HOST"]; h != resp.Addr.String() {
		t.Errorf("HOST %q", h)
	}

	resp2 := newResponder(t, "[::1]:0", 0, echoST("http://[::1]:5000/d.xml", "uuid:v6mc"))
	s = &Searcher{
		Multicast:  true,
		IPv6:       true,
		Interfaces: []net.Interface{*loopbackInterface(t)},
		Group:      netip.MustParseAddrPort("127.0.0.1:9"), // the IPv4 socket's group: nobody there
		Groups6:    []netip.AddrPort{resp2.Addr},
		Targets:    []string{TargetIGD1},
	}
	got, _ = searchUntil(t, s, 1, 5*time.Second)
	if len(got) != 1 || got[0].USN != "uuid:v6mc::"+TargetIGD1 {
		t.Fatalf("IPv6 multicast path: %+v", got)
	}
}

func loopbackInterface(t *testing.T) *net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i]
		}
	}
	t.Fatal("no loopback interface")
	return nil
}

// The IPv6 multicast search of an interface goes to FF02::C with that
// interface as zone (a link-local group means nothing without one) and to
// FF05::C without a zone, each request's HOST header naming the group
// without the zone.
func TestMulticast6DefaultGroupsZoned(t *testing.T) {
	lo := loopbackInterface(t)
	s := &Searcher{Multicast: true, IPv6: true, Targets: []string{TargetIGD1}}
	sk, err := s.openMulticast6(lo, s.Targets)
	if err != nil {
		t.Fatalf("openMulticast6(%s): %v", lo.Name, err)
	}
	defer sk.conn.Close()
	var got []string
	for _, d := range sk.sends {
		got = append(got, d.dst.String())
		if len(d.msgs) != 1 {
			t.Fatalf("%v: %d requests, want 1", d.dst, len(d.msgs))
		}
		want := "HOST: [" + d.dst.Addr().WithZone("").String() + "]:1900\r\n"
		if !strings.Contains(string(d.msgs[0]), want) {
			t.Errorf("request to %v lacks %q:\n%s", d.dst, want, d.msgs[0])
		}
	}
	want := []string{"[ff02::c%" + lo.Name + "]:1900", "[ff05::c]:1900"}
	if !slices.Equal(got, want) {
		t.Errorf("IPv6 destinations %v, want %v", got, want)
	}
}
