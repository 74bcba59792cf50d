//go:build linux

package labtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// Servers on LAN hosts and probes from the WAN host. A server answers each
// line (TCP) or datagram (UDP) with "<name> <the peer it sees> <the line>",
// so a probe knows that its data went in, that the answer came back, which
// server answered, and from which address the server saw it come.

// echoServer is a TCP or UDP echo server in a lab namespace.
type echoServer struct {
	name string
	ln   net.Listener // TCP
	pc   *net.UDPConn // UDP
	wg   sync.WaitGroup
	hits atomic.Int64
}

// startEcho starts an echo server on addr ("ip:port") inside node; it stops
// at the end of the test.
func startEcho(t *testing.T, lab *netlab.Lab, node netlab.Node, proto, addr string) *echoServer {
	t.Helper()
	s := &echoServer{name: string(node)}
	var err error
	switch proto {
	case "tcp":
		s.ln, err = lab.Listen(node, addr)
	case "udp":
		s.pc, err = lab.ListenUDP(node, addr)
	default:
		err = fmt.Errorf("protocol %q", proto)
	}
	if err != nil {
		t.Fatalf("echo server on %s %s: %v", node, addr, err)
	}
	s.wg.Add(1)
	if s.ln != nil {
		go s.serveTCP()
	} else {
		go s.serveUDP()
	}
	t.Cleanup(s.close)
	return s
}

func (s *echoServer) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.answerTCP(c)
	}
}

func (s *echoServer) answerTCP(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
	if err != nil {
		return
	}
	s.hits.Add(1)
	fmt.Fprintf(c, "%s %s %s", s.name, c.RemoteAddr(), line)
}

func (s *echoServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		n, from, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.hits.Add(1)
		s.pc.WriteToUDPAddrPort([]byte(fmt.Sprintf("%s %s %s", s.name, from, buf[:n])), from)
	}
}

func (s *echoServer) close() {
	if s.ln != nil {
		s.ln.Close()
	} else {
		s.pc.Close()
	}
	s.wg.Wait()
}

// probeSeq makes each probe's payload unique.
var probeSeq atomic.Int64

// probeResult is what a successful probe learned.
type probeResult struct {
	server string         // the echo server's name (its node)
	peer   netip.AddrPort // where the server saw the probe come from
}

// probe sends one line to proto/addr from the WAN host and reads the echo,
// within about a second (UDP: three tries 300 ms apart, on one socket, so
// that a lost datagram does not fail it). Every probe uses a fresh socket,
// hence a fresh source port: no conntrack entry of an earlier probe can
// carry it through the router.
func probe(ctx context.Context, lab *netlab.Lab, proto string, addr netip.AddrPort) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	payload := fmt.Sprintf("probe-%d\n", probeSeq.Add(1))
	network := proto + "4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = proto + "6" // a LAN host's global IPv6 address, through a pinhole
	}
	c, err := lab.Dial(ctx, netlab.WAN, network, addr.String())
	if err != nil {
		return probeResult{}, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	var answer string
	switch proto {
	case "tcp":
		if _, err := io.WriteString(c, payload); err != nil {
			return probeResult{}, err
		}
		answer, err = bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
		if err != nil {
			return probeResult{}, fmt.Errorf("reading the echo: %w", err)
		}
	case "udp":
		buf := make([]byte, 512)
		for try := 0; ; try++ {
			if _, err := io.WriteString(c, payload); err != nil {
				return probeResult{}, err
			}
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := c.Read(buf)
			if err == nil {
				answer = string(buf[:n])
				break
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || try == 2 {
				return probeResult{}, fmt.Errorf("no echo: %w", err)
			}
		}
	}
	fields := strings.Fields(answer)
	if len(fields) != 3 || fields[2] != strings.TrimSpace(payload) {
		return probeResult{}, fmt.Errorf("unexpected echo %q for %q", answer, payload)
	}
	peer, err := netip.ParseAddrPort(fields[1])
	if err != nil {
		return probeResult{}, fmt.Errorf("unexpected echo %q: %w", answer, err)
	}
	return probeResult{server: fields[0], peer: peer}, nil
}

// waitReachable probes addr every 100 ms until a probe succeeds or within
// has passed, and returns how long it took.
func waitReachable(ctx context.Context, lab *netlab.Lab, proto string, addr netip.AddrPort, within time.Duration) (probeResult, time.Duration, error) {
	start := time.Now()
	for {
		r, err := probe(ctx, lab, proto, addr)
		if err == nil {
			return r, time.Since(start), nil
		}
		if time.Since(start) > within || ctx.Err() != nil {
			return probeResult{}, time.Since(start), fmt.Errorf("%s %v not reachable from the WAN within %v: %w", proto, addr, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantReachable fails the test unless proto/addr reaches the echo server
// on node, seeing the WAN host's own address as the peer (DNAT, no SNAT;
// for IPv6 no translation at all), within a couple of seconds.
func wantReachable(t *testing.T, ctx context.Context, lab *netlab.Lab, proto string, addr netip.AddrPort, node netlab.Node) {
	t.Helper()
	r, _, err := waitReachable(ctx, lab, proto, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	peer := lab.Addr(netlab.WAN)
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		peer = lab.Addr6(netlab.WAN)
	}
	if r.server != string(node) || r.peer.Addr() != peer {
		t.Fatalf("%s %v: answered by %q, which saw the probe from %v; want %s seeing %v", proto, addr, r.server, r.peer, node, peer)
	}
}

// wantClosed fails the test if proto/addr is reachable from the WAN: TCP
// must be refused (the router answers a SYN for an unmapped port with a
// RST) or time out; UDP must get no echo within a bounded wait.
func wantClosed(t *testing.T, ctx context.Context, lab *netlab.Lab, proto string, addr netip.AddrPort) {
	t.Helper()
	r, err := probe(ctx, lab, proto, addr)
	if err == nil {
		t.Fatalf("%s %v is reachable from the WAN (answered by %s, peer %v); want it closed", proto, addr, r.server, r.peer)
	}
	if proto == "tcp" {
		var ne net.Error
		if !errors.Is(err, syscall.ECONNREFUSED) && !(errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("tcp %v: %v; want connection refused or a timeout", addr, err)
		}
	}
}

// extAddr is addr:port on the router's current external address.
func extAddr(lab *netlab.Lab, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(lab.ExternalAddr(), port)
}

// lanAddr is node's address with port, as a string for Listen.
func lanAddr(lab *netlab.Lab, node netlab.Node, port uint16) string {
	return netip.AddrPortFrom(lab.Addr(node), port).String()
}

// testContext is a context for the whole test, parallel subtests included:
// it ends after limit or when the test's cleanups run.
func testContext(t *testing.T, limit time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// newLab builds a lab for the test (netlab.Require first: skip, or fail
// in CI).
func newLab(t testing.TB, ctx context.Context, opts netlab.Options, tools ...string) *netlab.Lab {
	t.Helper()
	netlab.Require(t, tools...)
	start := time.Now()
	lab, err := netlab.New(ctx, t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab built in %v", time.Since(start).Round(time.Millisecond))
	return lab
}

// parseAddrPort parses what a client reported, failing the test if it is
// not an address and port.
func parseAddrPort(t *testing.T, what, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatalf("%s: %q is not an address and port: %v", what, s, err)
	}
	return ap
}
