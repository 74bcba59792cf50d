package reach

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Client defaults.
const (
	// defaultCheckTimeout bounds a whole check when neither the context nor
	// Client.Timeout does: a probe takes up to the checker's ProbeTimeout
	// (3s by default) plus its echo wait.
	defaultCheckTimeout = 10 * time.Second
	// udpResend is the interval at which a request sent over UDP is repeated
	// until an answer comes.
	udpResend = time.Second
)

// Client asks a checker whether a port is reachable. Its zero value checks
// both address families over TCP, without answering probes itself.
type Client struct {
	// Answer: when nothing listens on the local port, listen on it for the
	// length of the check and echo the checker's probe, so that the path is
	// proven before the application starts. Default off.
	Answer bool
	// LocalPort is the port the application listens on (a mapping's
	// internal port). Default: the checked port.
	LocalPort uint16
	// Network limits the families checked: "ip4", "ip6", or "" for both.
	Network string
	// Transport is how the request reaches the checker: TCP (default) or
	// UDP. TCP shows the checker an address that cannot be spoofed; UDP is
	// for checkers that only speak UDP.
	Transport Proto
	// Timeout bounds the whole check when ctx has no earlier deadline.
	// Default 10s.
	Timeout time.Duration
	// Resolver looks up the checker's name; default net.DefaultResolver.
	Resolver *net.Resolver
	// Logger gets debug lines; default silent.
	Logger *slog.Logger
}

// Check asks checker ("host[:port]", port 3478 by default) to probe port
// (the external port) over proto, with a zero Client.
func Check(ctx context.Context, checker string, port uint16, proto Proto) (Result, error) {
	return (&Client{}).Check(ctx, checker, port, proto)
}

// Check asks the checker to probe port over proto, once for each address
// family the checker has, at the same time. The error is nil when at least
// one family got a verdict; otherwise it joins the families' errors, each
// wrapping ErrCheckerDown, ErrCheckerSlow, ErrBadAnswer, ErrLimited or
// ErrRejected.
func (c *Client) Check(ctx context.Context, checker string, port uint16, proto Proto) (Result, error) {
	res := Result{Port: port, Proto: proto}
	if !proto.valid() || port == 0 {
		return res, fmt.Errorf("reach: nothing to check: port %d over %v", port, proto)
	}
	ctx, cancel := context.WithTimeout(ctx, orDur(c.Timeout, defaultCheckTimeout))
	defer cancel()
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	targets, err := c.resolve(ctx, checker)
	if err != nil {
		return res, err
	}

	local := c.LocalPort
	if local == 0 {
		local = port
	}
	listening, ans := c.localPort(local, proto)
	if ans != nil {
		ans.start()
		defer ans.close()
	}
	log.Debug("reach: checking", "checker", checker, "port", port, "proto", proto, "local", local, "listening", listening, "answering", ans != nil)

	outs := []*Outcome{&res.IPv4, &res.IPv6}
	var wg sync.WaitGroup
	for i, t := range targets {
		if !t.IsValid() {
			continue
		}
		var n Nonce
		rand.Read(n[:])
		if ans != nil {
			ans.expect(n)
		}
		wg.Add(1)
		go func(o *Outcome) {
			defer wg.Done()
			*o = c.checkOne(ctx, t, port, proto, n, listening, ans)
		}(outs[i])
	}
	wg.Wait()
	var errs []error
	for _, o := range outs {
		if o.Verdict != Unchecked {
			return res, nil
		}
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
	}
	return res, errors.Join(errs...)
}

// resolve returns the checker's first IPv4 and first IPv6 address, limited
// to c.Network; either may be the zero value.
func (c *Client) resolve(ctx context.Context, checker string) ([2]netip.AddrPort, error) {
	var out [2]netip.AddrPort
	host, port, err := splitHostPortDefault(checker)
	if err != nil || host == "" {
		return out, fmt.Errorf("reach: checker %q: want host[:port]", checker)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		r := c.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return out, fmt.Errorf("%w: looking up %q: %v", ErrCheckerDown, host, err)
		}
	}
	for _, a := range addrs {
		a = a.Unmap()
		i := 0
		if a.Is6() {
			i = 1
		}
		if (c.Network == "ip4" && i == 1) || (c.Network == "ip6" && i == 0) || out[i].IsValid() {
			continue
		}
		out[i] = netip.AddrPortFrom(a, port)
	}
	if !out[0].IsValid() && !out[1].IsValid() {
		return out, fmt.Errorf("%w: %q has no address for network %q", ErrCheckerDown, host, c.Network)
	}
	return out, nil
}

// localPort finds out whether something listens on the local port by trying
// to take it. With Answer, a port taken this way is kept and answers probes.
func (c *Client) localPort(port uint16, proto Proto) (listening bool, ans *answerer) {
	addr := ":" + strconv.Itoa(int(port))
	var err error
	var ln net.Listener
	var pc net.PacketConn
	if proto == TCP {
		ln, err = net.Listen("tcp", addr)
	} else {
		pc, err = net.ListenPacket("udp", addr)
	}
	if err != nil {
		// In use (or not ours to take, e.g. a privileged port): assume an
		// application holds it.
		return true, nil
	}
	if c.Answer {
		return false, newAnswerer(ln, pc)
	}
	if ln != nil {
		ln.Close()
	} else {
		pc.Close()
	}
	return false, nil
}

// checkOne asks one checker address and turns the answer into an outcome.
func (c *Client) checkOne(ctx context.Context, checker netip.AddrPort, port uint16, proto Proto, n Nonce, listening bool, ans *answerer) Outcome {
	o := Outcome{Checker: checker}
	req := appendRequest(make([]byte, 0, RequestSize), request{proto: proto, port: port, nonce: n})
	var a answer
	var err error
	if c.Transport == UDP {
		a, err = askUDP(ctx, checker, req, n)
	} else {
		a, err = askTCP(ctx, checker, req)
	}
	if err == nil && (a.nonce != n || a.proto != proto || a.port != port) {
		err = fmt.Errorf("%w: the answer is for another request", ErrBadAnswer)
	}
	if err != nil {
		o.Err = err
		return o
	}
	o.Code, o.Observed = a.code, a.observed
	switch a.code {
	case CodeLimited, CodeBusy:
		o.Err = fmt.Errorf("%w: %v, retry after %ds", ErrLimited, a.code, a.retryAfter)
		return o
	case CodeBad:
		o.Err = fmt.Errorf("%w (protocol version %d)", ErrRejected, Version)
		return o
	}
	switch {
	case ans != nil && ans.seen(n), a.code == CodeEchoed:
		o.Verdict, o.Verified = Open, true
	case a.code == CodeOpen:
		o.Verdict = Open
	case a.code == CodeRefused && !listening && ans == nil:
		// Refused and nothing of ours holds the port. When upnpmap held it
		// (ans != nil), a refusal means the probe never reached this
		// machine: Refused, below.
		o.Verdict = NothingListening
	case a.code == CodeRefused:
		o.Verdict = Refused
	default:
		o.Verdict = Filtered
	}
	return o
}

// askTCP sends one request over TCP and reads one answer.
func askTCP(ctx context.Context, checker netip.AddrPort, req []byte) (answer, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", checker.String())
	if err != nil {
		return answer{}, netErr(ctx, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return answer{}, netErr(ctx, err)
	}
	buf := make([]byte, AnswerSize)
	if _, err := io.ReadFull(conn, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return answer{}, fmt.Errorf("%w: the checker closed the connection without answering", ErrCheckerDown)
		}
		return answer{}, netErr(ctx, err)
	}
	return parseAnswer(buf)
}

// askUDP sends the request as a datagram, repeating it every udpResend,
// until an answer with our nonce comes or ctx ends. Datagrams that are not
// that answer are garbage from the checker's address: reported as such.
func askUDP(ctx context.Context, checker netip.AddrPort, req []byte, n Nonce) (answer, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", checker.String())
	if err != nil {
		return answer{}, netErr(ctx, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, AnswerSize+1)
	for {
		if _, err := conn.Write(req); err != nil {
			return answer{}, netErr(ctx, err)
		}
		conn.SetReadDeadline(time.Now().Add(udpResend))
		if ctx.Err() != nil {
			return answer{}, netErr(ctx, ctx.Err())
		}
		k, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue
			}
			return answer{}, netErr(ctx, err)
		}
		a, err := parseAnswer(buf[:k])
		if err == nil && a.nonce != n {
			continue // an answer to an earlier request: keep waiting
		}
		return a, err
	}
}

// netErr classifies a failure to talk to the checker.
func netErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrCheckerSlow, ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%w: %v", ErrCheckerDown, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %v", ErrCheckerSlow, err)
	}
	return fmt.Errorf("%w: %v", ErrCheckerDown, err)
}
