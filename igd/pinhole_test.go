package igd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const fw = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

// A pinhole as the lab opens it: this host's global address, a port above
// 1024, a lease of an hour.
var testPinhole = Pinhole{
	InternalClient: netip.MustParseAddr("2001:db8:77::20"),
	InternalPort:   8080,
	Protocol:       "tcp",
	LeaseTime:      time.Hour,
}

func TestAddPinholeWireFormat(t *testing.T) {
	f := newFake(t, func(action, _ string) answer { return okReply(fw, action, "UniqueID", "7") })
	c := f.client(ServiceWANIPv6Firewall1)
	id, err := c.AddPinhole(context.Background(), testPinhole)
	if err != nil {
		t.Fatal(err)
	}
	if id != 7 {
		t.Errorf("UniqueID = %d, want 7", id)
	}
	r := f.last()
	// Argument names and order of the service's SCPD; no "New" prefix
	// except UpdatePinhole's NewLeaseTime; Protocol is the IANA number.
	want := wantRequest(fw, "AddPinhole",
		"RemoteHost", "", "RemotePort", "0", "InternalClient", "2001:db8:77::20",
		"InternalPort", "8080", "Protocol", "6", "LeaseTime", "3600")
	if r.body != want {
		t.Errorf("body:\n got %q\nwant %q", r.body, want)
	}
	if !strings.Contains(r.raw, "\r\nSOAPAction: \"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1#AddPinhole\"\r\n") {
		t.Errorf("raw request lacks the SOAPAction header:\n%s", r.raw)
	}
}

func TestPinholeActions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		run    func(c *Client) (any, error)
		action string
		args   []string // want in-arguments, in order
		reply  []string // out-arguments the fake sends
		want   any
	}{
		{
			name:   "GetFirewallStatus",
			run:    func(c *Client) (any, error) { return c.GetFirewallStatus(ctx) },
			action: "GetFirewallStatus",
			reply:  []string{"FirewallEnabled", "1", "InboundPinholeAllowed", "0"},
			want:   FirewallStatus{Enabled: true, InboundPinholeAllowed: false},
		},
		{
			name: "GetOutboundPinholeTimeout/wildcards",
			run: func(c *Client) (any, error) {
				return c.GetOutboundPinholeTimeout(ctx, Pinhole{})
			},
			action: "GetOutboundPinholeTimeout",
			args:   []string{"RemoteHost", "", "RemotePort", "0", "InternalClient", "", "InternalPort", "0", "Protocol", "65535"},
			reply:  []string{"OutboundPinholeTimeout", "120"},
			want:   120 * time.Second,
		},
		{
			name: "GetOutboundPinholeTimeout/specific",
			run: func(c *Client) (any, error) {
				return c.GetOutboundPinholeTimeout(ctx, Pinhole{
					RemoteHost: netip.MustParseAddr("2001:db8:1::9"), RemotePort: 443,
					InternalClient: netip.MustParseAddr("2001:db8:77::20"), InternalPort: 5000, Protocol: UDP,
				})
			},
			action: "GetOutboundPinholeTimeout",
			args: []string{"RemoteHost", "2001:db8:1::9", "RemotePort", "443", "InternalClient", "2001:db8:77::20",
				"InternalPort", "5000", "Protocol", "17"},
			reply: []string{"OutboundPinholeTimeout", " 30 "},
			want:  30 * time.Second,
		},
		{
			name: "AddPinhole/remote restricted, UDP, lease rounded up",
			run: func(c *Client) (any, error) {
				return c.AddPinhole(ctx, Pinhole{
					RemoteHost: netip.MustParseAddr("2001:DB8:0:0:1::9"), RemotePort: 9,
					InternalClient: netip.MustParseAddr("2001:db8:77:0:0:0:0:20"), InternalPort: 51413,
					Protocol: "Udp", LeaseTime: 1500 * time.Millisecond,
				})
			},
			action: "AddPinhole",
			// Addresses go out in RFC 5952 form, the one miniupnpd
			// compares the request's source with.
			args: []string{"RemoteHost", "2001:db8::1:0:0:9", "RemotePort", "9", "InternalClient", "2001:db8:77::20",
				"InternalPort", "51413", "Protocol", "17", "LeaseTime", "2"},
			reply: []string{"UniqueID", "65535"},
			want:  uint16(65535),
		},
		{
			name:   "UpdatePinhole",
			run:    func(c *Client) (any, error) { return nil, c.UpdatePinhole(ctx, 7, MaxPinholeLease) },
			action: "UpdatePinhole",
			args:   []string{"UniqueID", "7", "NewLeaseTime", "86400"},
		},
		{
			name:   "DeletePinhole",
			run:    func(c *Client) (any, error) { return nil, c.DeletePinhole(ctx, 0) },
			action: "DeletePinhole",
			args:   []string{"UniqueID", "0"},
		},
		{
			name:   "GetPinholePackets",
			run:    func(c *Client) (any, error) { return c.GetPinholePackets(ctx, 12) },
			action: "GetPinholePackets",
			args:   []string{"UniqueID", "12"},
			reply:  []string{"PinholePackets", "4294967295"},
			want:   uint32(4294967295),
		},
		{
			name:   "CheckPinholeWorking",
			run:    func(c *Client) (any, error) { return c.CheckPinholeWorking(ctx, 3) },
			action: "CheckPinholeWorking",
			args:   []string{"UniqueID", "3"},
			reply:  []string{"IsWorking", "true"},
			want:   true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(action, _ string) answer { return okReply(fw, action, tc.reply...) })
			got, err := tc.run(f.client(ServiceWANIPv6Firewall1))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result %#v, want %#v", got, tc.want)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if want := wantRequest(fw, tc.action, tc.args...); reqs[0].body != want {
				t.Errorf("body:\n got %q\nwant %q", reqs[0].body, want)
			}
			if got, want := reqs[0].header.Get("SOAPAction"), `"`+fw+"#"+tc.action+`"`; got != want {
				t.Errorf("SOAPAction %s, want %s", got, want)
			}
		})
	}
}

// Replies shaped like the two server implementations: miniupnpd (one line,
// the namespace fixed) and Orange's igd2-for-linux (newlines between the
// elements).
func TestPinholeReplyShapes(t *testing.T) {
	orange := answer{body: `<?xml version="1.0"?>` + "\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` + "\n" +
		`<s:Body>` + "\n" + `<u:AddPinholeResponse xmlns:u="urn:schemas-upnp-org:service:WANIPv6FirewallControl:1">` + "\n" +
		`<UniqueID>42</UniqueID>` + "\n" + `</u:AddPinholeResponse>` + "\n" + `</s:Body>` + "\n" + `</s:Envelope>` + "\n"}
	f := newFake(t, func(string, string) answer { return orange })
	id, err := f.client(ServiceWANIPv6Firewall1).AddPinhole(context.Background(), testPinhole)
	if err != nil || id != 42 {
		t.Fatalf("AddPinhole = %d, %v; want 42", id, err)
	}
}

func TestPinholeMalformedReplies(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		reply answer
		run   func(c *Client) error
	}{
		{"UniqueID missing", okReply(fw, "AddPinhole"), func(c *Client) error { _, err := c.AddPinhole(ctx, testPinhole); return err }},
		{"UniqueID over ui2", okReply(fw, "AddPinhole", "UniqueID", "65536"), func(c *Client) error { _, err := c.AddPinhole(ctx, testPinhole); return err }},
		{"UniqueID negative", okReply(fw, "AddPinhole", "UniqueID", "-1"), func(c *Client) error { _, err := c.AddPinhole(ctx, testPinhole); return err }},
		{"status half", okReply(fw, "GetFirewallStatus", "FirewallEnabled", "1"), func(c *Client) error { _, err := c.GetFirewallStatus(ctx); return err }},
		{"status not boolean", okReply(fw, "GetFirewallStatus", "FirewallEnabled", "maybe", "InboundPinholeAllowed", "1"), func(c *Client) error { _, err := c.GetFirewallStatus(ctx); return err }},
		{"timeout negative", okReply(fw, "GetOutboundPinholeTimeout", "OutboundPinholeTimeout", "-1"), func(c *Client) error { _, err := c.GetOutboundPinholeTimeout(ctx, Pinhole{}); return err }},
		{"packets missing", okReply(fw, "GetPinholePackets"), func(c *Client) error { _, err := c.GetPinholePackets(ctx, 1); return err }},
		{"packets over ui4", okReply(fw, "GetPinholePackets", "PinholePackets", "4294967296"), func(c *Client) error { _, err := c.GetPinholePackets(ctx, 1); return err }},
		{"IsWorking missing", okReply(fw, "CheckPinholeWorking"), func(c *Client) error { _, err := c.CheckPinholeWorking(ctx, 1); return err }},
		{"wrong response element", okReply(fw, "AddPortMapping", "UniqueID", "1"), func(c *Client) error { _, err := c.AddPinhole(ctx, testPinhole); return err }},
		{"HTML page", answer{status: 404, body: "<html>not here</html>"}, func(c *Client) error { return c.DeletePinhole(ctx, 1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return tc.reply })
			err := tc.run(f.client(ServiceWANIPv6Firewall1))
			var re *ResponseError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &re) {
				t.Fatalf("got %v, want a *ResponseError matching ErrMalformed", err)
			}
		})
	}
}

// Arguments that cannot work are refused before anything is sent.
func TestPinholeArgumentChecks(t *testing.T) {
	ctx := context.Background()
	with := func(edit func(p *Pinhole)) Pinhole {
		p := testPinhole
		edit(&p)
		return p
	}
	cases := []struct {
		name string
		run  func(c *Client) error
	}{
		{"no internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.Addr{} }))
			return err
		}},
		{"IPv4 internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.MustParseAddr("192.168.1.20") }))
			return err
		}},
		{"IPv4-mapped internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.MustParseAddr("::ffff:192.168.1.20") }))
			return err
		}},
		{"link-local internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.MustParseAddr("fe80::20%eth0") }))
			return err
		}},
		{"loopback internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.IPv6Loopback() }))
			return err
		}},
		{"zoned internal client", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalClient = netip.MustParseAddr("2001:db8::20%eth0") }))
			return err
		}},
		{"multicast remote host", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.RemoteHost = netip.MustParseAddr("ff02::c") }))
			return err
		}},
		{"IPv4 remote host", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.RemoteHost = netip.MustParseAddr("198.51.100.1") }))
			return err
		}},
		{"internal port 0", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.InternalPort = 0 }))
			return err
		}},
		{"protocol SCTP", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.Protocol = "SCTP" }))
			return err
		}},
		{"protocol empty", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.Protocol = "" }))
			return err
		}},
		{"lease 0 (no permanent pinholes)", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.LeaseTime = 0 }))
			return err
		}},
		{"lease over a day", func(c *Client) error {
			_, err := c.AddPinhole(ctx, with(func(p *Pinhole) { p.LeaseTime = MaxPinholeLease + time.Second }))
			return err
		}},
		{"update lease under a second", func(c *Client) error { return c.UpdatePinhole(ctx, 1, time.Second/2) }},
		{"update lease negative", func(c *Client) error { return c.UpdatePinhole(ctx, 1, -time.Second) }},
		{"outbound IPv4 client", func(c *Client) error {
			_, err := c.GetOutboundPinholeTimeout(ctx, Pinhole{InternalClient: netip.MustParseAddr("10.0.0.1")})
			return err
		}},
		{"outbound bad protocol", func(c *Client) error {
			_, err := c.GetOutboundPinholeTimeout(ctx, Pinhole{Protocol: "ICMP"})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(action, _ string) answer { return okReply(fw, action, "UniqueID", "1") })
			err := tc.run(f.client(ServiceWANIPv6Firewall1))
			if !errors.Is(err, ErrInvalidArgs) {
				t.Errorf("got %v, want ErrInvalidArgs", err)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// The firewall actions belong to the firewall service: on a WANIPConnection
// client they fail without sending.
func TestPinholeNeedsFirewallService(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, func(action, _ string) answer { return okReply(fw, action, "UniqueID", "1") })
	c := f.client(ServiceWANIP2)
	_, err1 := c.AddPinhole(ctx, testPinhole)
	_, err2 := c.GetFirewallStatus(ctx)
	err3 := c.RemovePinhole(ctx, 1)
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("got %v, want ErrUnsupported", err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// InternalClient defaults to Client.LocalAddr, the address the request
// leaves from.
func TestPinholeInternalClientFromLocalAddr(t *testing.T) {
	f := newFake(t, func(action, _ string) answer { return okReply(fw, action, "UniqueID", "1") })
	c := f.client(ServiceWANIPv6Firewall1)
	// A caller's HTTPClient is used as given, so LocalAddr need not be an
	// address of this machine here.
	c.HTTPClient = &http.Client{}
	c.LocalAddr = netip.MustParseAddr("2001:db8:77::21")
	p := testPinhole
	p.InternalClient = netip.Addr{}
	if _, err := c.AddPinhole(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if b := f.last().body; !strings.Contains(b, "<InternalClient>2001:db8:77::21</InternalClient>") {
		t.Errorf("body %q does not name LocalAddr as the internal client", b)
	}
}

// sourceRecorder is a firewall endpoint that records the source address of
// each request.
type sourceRecorder struct {
	mu      sync.Mutex
	sources []string
}

func (s *sourceRecorder) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.sources = append(s.sources, r.RemoteAddr)
	s.mu.Unlock()
	_, _ = io.WriteString(w, okReply(fw, "AddPinhole", "UniqueID", "9").body)
}

func (s *sourceRecorder) hosts(t *testing.T) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.sources {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// serveOn starts s on addr ("127.0.0.1:0", "[::1]:0") and returns its
// control URL.
func serveOn(t *testing.T, s *sourceRecorder, addr string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/ctl/IP6FCtl")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// LocalAddr binds the request's source: the private client connects from it
// rather than from the address the kernel would pick (127.0.0.1 here).
func TestLocalAddrBindsSource(t *testing.T) {
	s := &sourceRecorder{}
	c := &Client{ControlURL: serveOn(t, s, "127.0.0.1:0"), ServiceType: ServiceWANIPv6Firewall1,
		LocalAddr: netip.MustParseAddr("127.0.0.2")}
	if _, err := c.AddPinhole(context.Background(), testPinhole); err != nil {
		t.Fatal(err)
	}
	if got := s.hosts(t); !reflect.DeepEqual(got, []string{"127.0.0.2"}) {
		t.Errorf("request sources %v, want [127.0.0.2]", got)
	}
}

// Pinholes are requested over the gateway's IPv6 control URL, from an IPv6
// source.
func TestPinholeOverIPv6(t *testing.T) {
	s := &sourceRecorder{}
	u := serveOn(t, s, "[::1]:0")
	c := &Client{ControlURL: u, ServiceType: ServiceWANIPv6Firewall1, LocalAddr: netip.IPv6Loopback()}
	id, err := c.AddPinhole(context.Background(), testPinhole)
	if err != nil || id != 9 {
		t.Fatalf("AddPinhole = %d, %v; want 9", id, err)
	}
	if got := s.hosts(t); !reflect.DeepEqual(got, []string{"::1"}) {
		t.Errorf("request sources %v, want [::1]", got)
	}
}

// An IPv6 LocalAddr cannot reach an IPv4 control URL: the call fails before
// anything is sent, as an unreachable control URL.
func TestLocalAddrFamilyMismatch(t *testing.T) {
	s := &sourceRecorder{}
	c := &Client{ControlURL: serveOn(t, s, "127.0.0.1:0"), ServiceType: ServiceWANIPv6Firewall1,
		LocalAddr: netip.IPv6Loopback()}
	_, err := c.AddPinhole(context.Background(), testPinhole)
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("got %v, want ErrUnreachable", err)
	}
	if got := s.hosts(t); len(got) != 0 {
		t.Errorf("requests arrived from %v", got)
	}
}
