package discovery

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// ssdpRequest is one M-SEARCH as the fake responder saw it.
type ssdpRequest struct {
	From    netip.AddrPort
	Raw     string
	Start   string            // request line
	Headers map[string]string // upper-cased names
	At      time.Time
}

// fakeResponder is a UDP SSDP responder on a loopback address. For every
// request it calls answer and sends the returned datagrams after Delay,
// from the listening socket or, with ReplyFrom, from another one.
type fakeResponder struct {
	Addr      netip.AddrPort
	conn      *net.UDPConn
	replyConn *net.UDPConn
	delay     time.Duration
	answer    func(req ssdpRequest) [][]byte

	mu   sync.Mutex
	reqs []ssdpRequest

	stop chan struct{}
	wg   sync.WaitGroup
}

// newResponder starts a responder on bind (e.g. "127.0.0.2:0"). It is
// closed by t.Cleanup.
func newResponder(t testing.TB, bind string, delay time.Duration, answer func(ssdpRequest) [][]byte) *fakeResponder {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(bind)))
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeResponder{
		Addr:   c.LocalAddr().(*net.UDPAddr).AddrPort(),
		conn:   c,
		delay:  delay,
		answer: answer,
		stop:   make(chan struct{}),
	}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

// replyFromOtherPort makes the responder answer from a second socket on the
// same address, i.e. from another source port.
func (r *fakeResponder) replyFromOtherPort(t testing.TB) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.Addr.Addr(), 0)))
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.replyConn = c
	r.mu.Unlock()
}

func (r *fakeResponder) serve() {
	defer r.wg.Done()
	buf := make([]byte, 8192)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := parseTestRequest(string(buf[:n]), from)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		out := r.conn
		if r.replyConn != nil {
			out = r.replyConn
		}
		r.mu.Unlock()
		msgs := r.answer(req)
		if len(msgs) == 0 {
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if r.delay > 0 {
				select {
				case <-time.After(r.delay):
				case <-r.stop:
					return
				}
			}
			for _, m := range msgs {
				out.WriteToUDPAddrPort(m, from)
			}
		}()
	}
}

// Requests returns a copy of the requests received so far.
func (r *fakeResponder) Requests() []ssdpRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ssdpRequest(nil), r.reqs...)
}

func (r *fakeResponder) Close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	r.conn.Close()
	r.wg.Wait()
	r.mu.Lock()
	if r.replyConn != nil {
		r.replyConn.Close()
	}
	r.mu.Unlock()
}

func parseTestRequest(raw string, from netip.AddrPort) ssdpRequest {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	req := ssdpRequest{From: from, Raw: raw, Headers: map[string]string{}, At: time.Now()}
	sc := bufio.NewScanner(strings.NewReader(raw))
	first := true
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if first {
			req.Start, first = line, false
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			req.Headers[strings.ToUpper(k)] = strings.TrimSpace(v)
		}
	}
	return req
}

// okAnswer renders a typical miniupnpd-style answer.
func okAnswer(location, st, usn string) []byte {
	return []byte("HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=120\r\n" +
		"ST: " + st + "\r\n" +
		"USN: " + usn + "\r\n" +
		"EXT:\r\n" +
		"SERVER: Linux/5.10 UPnP/1.1 MiniUPnPd/2.3.1\r\n" +
		"LOCATION: " + location + "\r\n" +
		"\r\n")
}

// echoST answers every request with its own ST, as most devices do.
func echoST(location, uuid string) func(ssdpRequest) [][]byte {
	return func(req ssdpRequest) [][]byte {
		st := req.Headers["ST"]
		return [][]byte{okAnswer(location, st, uuid+"::"+st)}
	}
}

// hitCounter is an HTTP handler that counts requests.
type hitCounter struct {
	mu   sync.Mutex
	hits int
	h    http.Handler
}

func (c *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.hits++
	c.mu.Unlock()
	if c.h != nil {
		c.h.ServeHTTP(w, r)
		return
	}
	http.Error(w, "should not be reached", http.StatusTeapot)
}

func (c *hitCounter) Hits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// serveHTTP serves h on bind ("127.0.0.1:0" or a fixed port) until the test
// ends, and returns the listening address.
func serveHTTP(t testing.TB, bind string, h http.Handler) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// xmlHandler serves body as text/xml.
func xmlHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		fmt.Fprint(w, body)
	})
}

// searchUntil runs s until n answers arrived or the timeout passed, and
// returns the answers and when each arrived (relative to the start).
func searchUntil(t testing.TB, s *Searcher, n int, timeout time.Duration) ([]Response, []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []Response
	var at []time.Duration
	start := time.Now()
	err := s.Search(ctx, func(r Response) {
		got = append(got, r)
		at = append(at, time.Since(start))
		if len(got) >= n {
			cancel()
		}
	})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return got, at
}

// igdDescription is a typical IGD:2 description (miniupnpd's shape), with
// relative URLs.
const igdDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337">
<specVersion><major>1</major><minor>1</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<friendlyName>Test Router</friendlyName>
<manufacturer>upnpmap</manufacturer>
<modelName>Fake IGD</modelName>
<modelNumber>2</modelNumber>
<UDN>uuid:11111111-2222-3333-4444-555555555555</UDN>
<serviceList>
<service>
<serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId>
<SCPDURL>/L3F.xml</SCPDURL>
<controlURL>/ctl/L3F</controlURL>
<eventSubURL>/evt/L3F</eventSubURL>
</service>
</serviceList>
<deviceList>
<device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
<friendlyName>WANDevice</friendlyName>
<UDN>uuid:11111111-2222-3333-4444-555555555556</UDN>
<serviceList>
<service>
<serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
<SCPDURL>/WANCfg.xml</SCPDURL>
<controlURL>/ctl/CmnIfCfg</controlURL>
<eventSubURL>/evt/CmnIfCfg</eventSubURL>
</service>
</serviceList>
<deviceList>
<device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>
<friendlyName>WANConnectionDevice</friendlyName>
<UDN>uuid:11111111-2222-3333-4444-555555555557</UDN>
<serviceList>
<service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
</service>
<service>
<serviceType>urn:schemas-upnp-org:service:WANIPv6FirewallControl:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId>
<SCPDURL>/WANIP6FC.xml</SCPDURL>
<controlURL>/ctl/IP6FCtl</controlURL>
<eventSubURL>/evt/IP6FCtl</eventSubURL>
</service>
</serviceList>
</device>
</deviceList>
</device>
</deviceList>
<presentationURL>http://192.168.1.1/</presentationURL>
</device>
</root>
`

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
