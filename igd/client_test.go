package igd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAddPortMappingWireFormat(t *testing.T) {
	f := newFake(t, func(action, _ string) answer { return okReply(ServiceWANIP2, action) })
	c := f.client(ServiceWANIP2)
	err := c.AddPortMapping(context.Background(), PortMapping{
		ExternalPort: 8080, Protocol: "tcp", InternalPort: 80, InternalClient: "192.168.1.20",
		Enabled: true, Description: "web", LeaseDuration: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.last()
	const wantBody = `<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
		`<s:Body><u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">` +
		`<NewRemoteHost></NewRemoteHost><NewExternalPort>8080</NewExternalPort><NewProtocol>TCP</NewProtocol>` +
		`<NewInternalPort>80</NewInternalPort><NewInternalClient>192.168.1.20</NewInternalClient>` +
		`<NewEnabled>1</NewEnabled><NewPortMappingDescription>web</NewPortMappingDescription>` +
		`<NewLeaseDuration>3600</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>` + "\r\n"
	if r.body != wantBody {
		t.Errorf("body:\n got %q\nwant %q", r.body, wantBody)
	}
	if r.method != "POST" || r.path != "/ctl" {
		t.Errorf("request line: %s %s", r.method, r.path)
	}
	// Header names as they went over the wire (the server canonicalises its
	// map, so check the raw bytes for the casing).
	for _, line := range []string{
		"\r\nSOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:2#AddPortMapping\"\r\n",
		"\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n",
		"\r\nContent-Length: " + strconv.Itoa(len(wantBody)) + "\r\n",
		"\r\nConnection: close\r\n",
		"\r\nHost: " + f.srv.Listener.Addr().String() + "\r\n",
	} {
		if !strings.Contains(r.raw, line) {
			t.Errorf("raw request lacks %q:\n%s", line, r.raw)
		}
	}
	for _, bad := range []string{"Transfer-Encoding", "Accept-Encoding", "Soapaction:", "SOAPACTION:"} {
		if strings.Contains(r.raw, bad) {
			t.Errorf("raw request contains %q", bad)
		}
	}
	if !r.close {
		t.Error("request did not ask to close the connection")
	}
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name    string
		st      string
		run     func(c *Client) (any, error)
		wantReq string // body the client must send
		reply   answer // what the router answers
		want    any    // result
	}
	pm := PortMapping{ExternalPort: 5000, Protocol: "udp", InternalPort: 5001, InternalClient: "10.0.0.2", Enabled: true, Description: "d", LeaseDuration: 90 * time.Second}
	cases := []tc{
		{
			name: "AddAnyPortMapping", st: ServiceWANIP2,
			run: func(c *Client) (any, error) { return c.AddAnyPortMapping(ctx, pm) },
			wantReq: wantRequest(ServiceWANIP2, "AddAnyPortMapping",
				"NewRemoteHost", "", "NewExternalPort", "5000", "NewProtocol", "UDP", "NewInternalPort", "5001",
				"NewInternalClient", "10.0.0.2", "NewEnabled", "1", "NewPortMappingDescription", "d", "NewLeaseDuration", "90"),
			reply: okReply(ServiceWANIP2, "AddAnyPortMapping", "NewReservedPort", "5002"),
			want:  uint16(5002),
		},
		{
			name: "DeletePortMapping", st: ServiceWANIP1,
			run: func(c *Client) (any, error) { return nil, c.DeletePortMapping(ctx, "", 5000, "Tcp") },
			wantReq: wantRequest(ServiceWANIP1, "DeletePortMapping",
				"NewRemoteHost", "", "NewExternalPort", "5000", "NewProtocol", "TCP"),
			reply: okReply(ServiceWANIP1, "DeletePortMapping"),
			want:  nil,
		},
		{
			name: "DeletePortMappingRange", st: ServiceWANIP2,
			run: func(c *Client) (any, error) { return nil, c.DeletePortMappingRange(ctx, 1000, 2000, "udp", true) },
			wantReq: wantRequest(ServiceWANIP2, "DeletePortMappingRange",
				"NewStartPort", "1000", "NewEndPort", "2000", "NewProtocol", "UDP", "NewManage", "1"),
			reply: okReply(ServiceWANIP2, "DeletePortMappingRange"),
			want:  nil,
		},
		{
			name: "GetSpecificPortMappingEntry", st: ServiceWANPPP1,
			run: func(c *Client) (any, error) { return c.GetSpecificPortMappingEntry(ctx, "", 5000, "TCP") },
			wantReq: wantRequest(ServiceWANPPP1, "GetSpecificPortMappingEntry",
				"NewRemoteHost", "", "NewExternalPort", "5000", "NewProtocol", "TCP"),
			reply: okReply(ServiceWANPPP1, "GetSpecificPortMappingEntry",
				"NewInternalPort", "5001", "NewInternalClient", "10.0.0.2", "NewEnabled", "1",
				"NewPortMappingDescription", "a &amp; b", "NewLeaseDuration", "3599"),
			want: &PortMapping{ExternalPort: 5000, Protocol: "TCP", InternalPort: 5001, InternalClient: "10.0.0.2",
				Enabled: true, Description: "a & b", LeaseDuration: 3599 * time.Second},
		},
		{
			name: "GetGenericPortMappingEntry", st: ServiceWANIP1,
			run:     func(c *Client) (any, error) { return c.GetGenericPortMappingEntry(ctx, 3) },
			wantReq: wantRequest(ServiceWANIP1, "GetGenericPortMappingEntry", "NewPortMappingIndex", "3"),
			reply: okReply(ServiceWANIP1, "GetGenericPortMappingEntry",
				"NewRemoteHost", "", "NewExternalPort", "443", "NewProtocol", "tcp", "NewInternalPort", "8443",
				"NewInternalClient", "10.0.0.3", "NewEnabled", "0", "NewPortMappingDescription", "NAT-PMP 443 tcp",
				"NewLeaseDuration", "0"),
			want: &PortMapping{ExternalPort: 443, Protocol: "TCP", InternalPort: 8443, InternalClient: "10.0.0.3",
				Enabled: false, Description: "NAT-PMP 443 tcp"},
		},
		{
			name: "GetExternalIPAddress", st: ServiceWANIP2,
			run:     func(c *Client) (any, error) { return c.GetExternalIPAddress(ctx) },
			wantReq: wantRequest(ServiceWANIP2, "GetExternalIPAddress"),
			reply:   okReply(ServiceWANIP2, "GetExternalIPAddress", "NewExternalIPAddress", "203.0.113.7"),
			want:    netip.MustParseAddr("203.0.113.7"),
		},
		{
			name: "GetStatusInfo", st: ServiceWANIP1,
			run:     func(c *Client) (any, error) { return c.GetStatusInfo(ctx) },
			wantReq: wantRequest(ServiceWANIP1, "GetStatusInfo"),
			reply: okReply(ServiceWANIP1, "GetStatusInfo", "NewConnectionStatus", "Connected",
				"NewLastConnectionError", "ERROR_NONE", "NewUptime", "4242"),
			want: &StatusInfo{ConnectionStatus: "Connected", LastConnectionError: "ERROR_NONE", Uptime: 4242 * time.Second},
		},
		{
			name: "GetConnectionTypeInfo", st: ServiceWANIP1,
			run:     func(c *Client) (any, error) { return c.GetConnectionTypeInfo(ctx) },
			wantReq: wantRequest(ServiceWANIP1, "GetConnectionTypeInfo"),
			reply: okReply(ServiceWANIP1, "GetConnectionTypeInfo", "NewConnectionType", "IP_Routed",
				"NewPossibleConnectionTypes", "IP_Routed"),
			want: &ConnectionTypeInfo{ConnectionType: "IP_Routed", PossibleConnectionTypes: "IP_Routed"},
		},
		{
			name: "GetListOfPortMappings", st: ServiceWANIP2,
			run: func(c *Client) (any, error) { return c.GetListOfPortMappings(ctx, 1, 65535, "tcp", false, 10) },
			wantReq: wantRequest(ServiceWANIP2, "GetListOfPortMappings",
				"NewStartPort", "1", "NewEndPort", "65535", "NewProtocol", "TCP", "NewManage", "0", "NewNumberOfPorts", "10"),
			reply: okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", "<![CDATA["+listingDoc+"]]>"),
			want:  listingWant,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(action, _ string) answer {
				if action != tc.name {
					return faultReply(401, "Invalid Action")
				}
				return tc.reply
			})
			got, err := tc.run(f.client(tc.st))
			if err != nil {
				t.Fatal(err)
			}
			r := f.last()
			if r.body != tc.wantReq {
				t.Errorf("request body:\n got %q\nwant %q", r.body, tc.wantReq)
			}
			if want := `"` + tc.st + "#" + tc.name + `"`; !strings.Contains(r.raw, "\r\nSOAPAction: "+want+"\r\n") {
				t.Errorf("SOAPAction header is not %s:\n%s", want, r.raw)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result: got %#v, want %#v", got, tc.want)
			}
		})
	}
}

const listingDoc = `<?xml version="1.0" encoding="UTF-8"?>
<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">
<p:PortMappingEntry>
<p:NewRemoteHost></p:NewRemoteHost>
<p:NewExternalPort>2345</p:NewExternalPort>
<p:NewProtocol>TCP</p:NewProtocol>
<p:NewInternalPort>2346</p:NewInternalPort>
<p:NewInternalClient>192.168.1.137</p:NewInternalClient>
<p:NewEnabled>1</p:NewEnabled>
<p:NewDescription>game</p:NewDescription>
<p:NewLeaseTime>345</p:NewLeaseTime>
</p:PortMappingEntry>
<p:PortMappingEntry><p:NewRemoteHost>198.51.100.1</p:NewRemoteHost><p:NewExternalPort>80</p:NewExternalPort><p:NewProtocol>TCP</p:NewProtocol><p:NewInternalPort>8080</p:NewInternalPort><p:NewInternalClient>192.168.1.2</p:NewInternalClient><p:NewEnabled>0</p:NewEnabled><p:NewDescription>web</p:NewDescription><p:NewLeaseTime>0</p:NewLeaseTime></p:PortMappingEntry>
</p:PortMappingList>`

var listingWant = []PortMapping{
	{ExternalPort: 2345, Protocol: "TCP", InternalPort: 2346, InternalClient: "192.168.1.137", Enabled: true, Description: "game", LeaseDuration: 345 * time.Second},
	{RemoteHost: "198.51.100.1", ExternalPort: 80, Protocol: "TCP", InternalPort: 8080, InternalClient: "192.168.1.2", Description: "web"},
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		code int
		want []error // every one must match
	}{
		{401, []error{ErrUnsupported}},
		{402, []error{ErrInvalidArgs}},
		{501, []error{ErrActionFailed}},
		{600, []error{ErrInvalidArgs}},
		{601, []error{ErrInvalidArgs}},
		{602, []error{ErrUnsupported}},
		{603, []error{ErrNoResources}},
		{605, []error{ErrInvalidArgs}},
		{606, []error{ErrNotAuthorized, errs.NotAuthorized}},
		{713, []error{ErrArrayIndexInvalid}},
		{714, []error{ErrNoSuchEntry, errs.NoSuchEntry}},
		{715, []error{ErrWildcardNotPermittedInSrcIP, ErrInvalidArgs}},
		{716, []error{ErrWildcardNotPermittedInExtPort, ErrInvalidArgs}},
		{718, []error{ErrConflict, errs.PortInUse}},
		{724, []error{ErrSamePortValuesRequired, ErrInvalidArgs}},
		{725, []error{ErrOnlyPermanentLeases, errs.OnlyPermanentLeases}},
		{726, []error{ErrRemoteHostOnlySupportsWildcard, ErrInvalidArgs}},
		{727, []error{ErrExternalPortOnlySupportsWildcard, ErrInvalidArgs}},
		{728, []error{ErrNoResources, errs.NoResources}},
		{729, []error{ErrConflict, errs.PortInUse}},
		{730, []error{ErrNoSuchEntry}},
		{732, []error{ErrWildcardNotPermittedInIntPort, ErrInvalidArgs}},
		{733, []error{ErrInconsistentParameters, ErrInvalidArgs}},
		{799, nil}, // unknown: a *UPnPError, no sentinel
	}
	all := []error{ErrUnsupported, ErrInvalidArgs, ErrActionFailed, ErrNoResources, ErrNotAuthorized,
		ErrArrayIndexInvalid, ErrNoSuchEntry, ErrConflict, ErrOnlyPermanentLeases, ErrMalformed, ErrTimeout, ErrUnreachable}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return faultReply(tc.code, "Desc"+strconv.Itoa(tc.code)) })
			err := f.client(ServiceWANIP2).AddPortMapping(context.Background(), PortMapping{
				ExternalPort: 1, Protocol: TCP, InternalPort: 1, InternalClient: "10.0.0.1", Enabled: true})
			var ue *UPnPError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v (%T), want *UPnPError", err, err)
			}
			if ue.Code != tc.code || ue.Action != "AddPortMapping" || ue.Description != "Desc"+strconv.Itoa(tc.code) {
				t.Errorf("got %+v", *ue)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tc.code)) {
				t.Errorf("message %q lacks the code", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = false", err, w)
				}
			}
			for _, other := range all {
				if errors.Is(err, other) && !matchesAny(other, tc.want) {
					t.Errorf("code %d also matches %v", tc.code, other)
				}
			}
		})
	}
}

func matchesAny(err error, list []error) bool {
	for _, l := range list {
		if errors.Is(l, err) {
			return true
		}
	}
	return false
}

func TestMalformedReplies(t *testing.T) {
	cases := []struct {
		name   string
		reply  answer
		status int
	}{
		{"html 500", answer{status: 500, body: "<html><body>Internal Server Error</body></html>"}, 500},
		{"text 500", answer{status: 500, body: "oops"}, 500},
		{"empty 500", answer{status: 500}, 500},
		{"fault without UPnPError", answer{status: 500, body: testEnvHead + `<s:Fault><faultcode>s:Client</faultcode><faultstring>Invalid Action</faultstring></s:Fault>` + testEnvTail}, 500},
		{"fault with bad code", answer{status: 500, body: testEnvHead + `<s:Fault><detail><UPnPError><errorCode>seven</errorCode></UPnPError></detail></s:Fault>` + testEnvTail}, 500},
		{"fault with code 0", answer{status: 500, body: testEnvHead + `<s:Fault><detail><UPnPError><errorCode>0</errorCode></UPnPError></detail></s:Fault>` + testEnvTail}, 500},
		{"truncated fault", answer{status: 500, body: testEnvHead + `<s:Fault><detail><UPnPError><errorCode>718`}, 500},
		{"404 empty", answer{status: 404}, 404},
		{"response with 500", answer{status: 500, body: okReply(ServiceWANIP1, "GetExternalIPAddress", "NewExternalIPAddress", "1.2.3.4").body}, 500},
		{"wrong action", okReply(ServiceWANIP1, "GetStatusInfo", "NewConnectionStatus", "Connected"), 200},
		{"missing out-arg", okReply(ServiceWANIP1, "GetExternalIPAddress"), 200},
		{"not an address", okReply(ServiceWANIP1, "GetExternalIPAddress", "NewExternalIPAddress", "gateway.local"), 200},
		{"no envelope", answer{body: `<u:GetExternalIPAddressResponse xmlns:u="x"><NewExternalIPAddress>1.2.3.4</NewExternalIPAddress></u:GetExternalIPAddressResponse>`}, 200},
		{"empty body", answer{}, 200},
		{"redirect", answer{status: 302, header: map[string]string{"Location": "http://192.0.2.1/elsewhere"}}, 302},
		{"unknown charset", answer{body: `<?xml version="1.0" encoding="koi8-r"?><s:Envelope xmlns:s="x"><s:Body/></s:Envelope>`}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return tc.reply })
			_, err := f.client(ServiceWANIP1).GetExternalIPAddress(context.Background())
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("got %v (%T), want *ResponseError", err, err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not match ErrMalformed", err)
			}
			if re.StatusCode != tc.status || re.Action != "GetExternalIPAddress" {
				t.Errorf("got status %d action %q, want %d", re.StatusCode, re.Action, tc.status)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests reached the router, want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestReplyTolerance(t *testing.T) {
	cases := []struct{ name, body string }{
		{"no prefix", `<Envelope><Body><GetExternalIPAddressResponse><NewExternalIPAddress>198.51.100.9</NewExternalIPAddress></GetExternalIPAddressResponse></Body></Envelope>`},
		{"SOAP-ENV prefix and header", `<?xml version="1.0" encoding="utf-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Header><x:Ignored xmlns:x="y">1</x:Ignored></SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <m:GetExternalIPAddressResponse xmlns:m="urn:schemas-upnp-org:service:WANIPConnection:1">
      <NewExternalIPAddress>
        198.51.100.9
      </NewExternalIPAddress>
    </m:GetExternalIPAddressResponse>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>`},
		{"latin-1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><s:Envelope xmlns:s=\"x\"><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"y\"><Note>caf\xe9</Note><NewExternalIPAddress>198.51.100.9</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>"},
		{"case of names", `<s:envelope xmlns:s="x"><s:body><u:getexternalipaddressresponse xmlns:u="y"><newexternalipaddress>198.51.100.9</newexternalipaddress></u:getexternalipaddressresponse></s:body></s:envelope>`},
		{"trailing garbage", testEnvHead + `<u:GetExternalIPAddressResponse xmlns:u="y"><NewExternalIPAddress>198.51.100.9</NewExternalIPAddress></u:GetExternalIPAddressResponse>` + testEnvTail + "\x00\x00"},
		{"mapped v4", okReply(ServiceWANIP1, "GetExternalIPAddress", "NewExternalIPAddress", "::ffff:198.51.100.9").body},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return answer{body: tc.body} })
			got, err := f.client(ServiceWANIP1).GetExternalIPAddress(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := netip.MustParseAddr("198.51.100.9"); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestFaultWithStatus200(t *testing.T) {
	f := newFake(t, func(string, string) answer { a := faultReply(718, "ConflictInMappingEntry"); a.status = 200; return a })
	err := f.client(ServiceWANIP1).AddPortMapping(context.Background(), PortMapping{ExternalPort: 1, Protocol: TCP, InternalPort: 1, Enabled: true})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
}

func TestNoExternalAddress(t *testing.T) {
	for _, v := range []string{"", "  ", "0.0.0.0", "::"} {
		f := newFake(t, func(string, string) answer {
			return okReply(ServiceWANIP1, "GetExternalIPAddress", "NewExternalIPAddress", v)
		})
		_, err := f.client(ServiceWANIP1).GetExternalIPAddress(context.Background())
		if !errors.Is(err, ErrNoExternalAddress) || !errors.Is(err, errs.NetworkFailure) {
			t.Errorf("%q: got %v, want ErrNoExternalAddress", v, err)
		}
		if errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v should not be ErrMalformed", v, err)
		}
	}
}

func TestEscaping(t *testing.T) {
	f := newFake(t, func(action, _ string) answer { return okReply(ServiceWANIP1, action) })
	c := f.client(ServiceWANIP1)
	err := c.AddPortMapping(context.Background(), PortMapping{
		RemoteHost: "", ExternalPort: 7, Protocol: UDP, InternalPort: 7, InternalClient: "10.0.0.1&x",
		Enabled: true, Description: `a<b>&"c' </NewPortMappingDescription>`})
	if err != nil {
		t.Fatal(err)
	}
	body := f.last().body
	for _, want := range []string{
		`<NewPortMappingDescription>a&lt;b&gt;&amp;"c' &lt;/NewPortMappingDescription&gt;</NewPortMappingDescription>`,
		`<NewInternalClient>10.0.0.1&amp;x</NewInternalClient>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s:\n%s", want, body)
		}
	}

	// Text XML cannot carry is refused before sending.
	for _, desc := range []string{"nul\x00", "bell\a", "bad utf8 \xff"} {
		err := c.AddPortMapping(context.Background(), PortMapping{ExternalPort: 7, Protocol: UDP, InternalPort: 7, Enabled: true, Description: desc})
		if !errors.Is(err, ErrInvalidArgs) {
			t.Errorf("%q: got %v, want ErrInvalidArgs", desc, err)
		}
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests sent, want 1", n)
	}
}

func TestArgumentChecks(t *testing.T) {
	f := newFake(t, func(action, _ string) answer { return okReply(ServiceWANIP2, action) })
	c2 := f.client(ServiceWANIP2)
	c1 := f.client(ServiceWANIP1)
	ctx := context.Background()
	ok := PortMapping{ExternalPort: 1, Protocol: TCP, InternalPort: 1, Enabled: true}
	with := func(mod func(*PortMapping)) PortMapping { m := ok; mod(&m); return m }
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"sctp", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.Protocol = "sctp" })), ErrInvalidArgs},
		{"empty protocol", c2.DeletePortMapping(ctx, "", 1, ""), ErrInvalidArgs},
		{"external 0", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.ExternalPort = 0 })), ErrInvalidArgs},
		{"internal 0", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.InternalPort = 0 })), ErrInvalidArgs},
		{"negative lease", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.LeaseDuration = -time.Second })), ErrInvalidArgs},
		{"huge lease", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.LeaseDuration = 1 << 62 })), ErrInvalidArgs},
		{"huge request", c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.Description = strings.Repeat("x", DefaultMaxBodySize) })), ErrInvalidArgs},
		{"index", second(c2.GetGenericPortMappingEntry(ctx, -1)), ErrInvalidArgs},
		{"list max", second(c2.GetListOfPortMappings(ctx, 1, 2, TCP, false, -1)), ErrInvalidArgs},
		{"v2 add on v1", second(c1.AddAnyPortMapping(ctx, ok)), ErrUnsupported},
		{"v2 list on v1", second(c1.GetListOfPortMappings(ctx, 1, 2, TCP, false, 0)), ErrUnsupported},
		{"v2 range on v1", c1.DeletePortMappingRange(ctx, 1, 2, TCP, false), ErrUnsupported},
	}
	for _, ch := range checks {
		if !errors.Is(ch.err, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.name, ch.err, ch.want)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid calls", n)
	}
	// Lease rounding: 1.5 s is sent as 2.
	if err := c2.AddPortMapping(ctx, with(func(m *PortMapping) { m.LeaseDuration = 1500 * time.Millisecond })); err != nil {
		t.Fatal(err)
	}
	if b := f.last().body; !strings.Contains(b, "<NewLeaseDuration>2</NewLeaseDuration>") {
		t.Errorf("lease not rounded up: %s", b)
	}
}

func second[T any](_ T, err error) error { return err }

func TestClientConfigErrors(t *testing.T) {
	ctx := context.Background()
	u := func(s string) *url.URL { x, _ := url.Parse(s); return x }
	for _, c := range []*Client{
		{ServiceType: ServiceWANIP1},
		{ControlURL: u("ftp://192.0.2.1/ctl"), ServiceType: ServiceWANIP1},
		{ControlURL: u("http:///ctl"), ServiceType: ServiceWANIP1},
		{ControlURL: u("http://user:pw@192.0.2.1/ctl"), ServiceType: ServiceWANIP1},
		{ControlURL: u("http://192.0.2.1/ctl")},
		{ControlURL: u("http://192.0.2.1/ctl"), ServiceType: `urn:x"y:1`},
	} {
		if _, err := c.GetExternalIPAddress(ctx); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestOversizedReply(t *testing.T) {
	big := testEnvHead + `<u:GetExternalIPAddressResponse xmlns:u="y"><NewExternalIPAddress>1.2.3.4</NewExternalIPAddress><Pad>` +
		strings.Repeat("x", 100<<10) + `</Pad></u:GetExternalIPAddressResponse>` + testEnvTail
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			f := newFake(t, func(string, string) answer {
				a := answer{body: big}
				if !chunked {
					a.header = map[string]string{"Content-Length": strconv.Itoa(len(big))}
				}
				return a
			})
			_, err := f.client(ServiceWANIP1).GetExternalIPAddress(context.Background())
			if !errors.Is(err, ErrResponseTooLarge) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrResponseTooLarge", err)
			}
			var re *ResponseError
			if !errors.As(err, &re) || re.StatusCode != 200 {
				t.Errorf("got %#v", err)
			}
			// A larger limit lets it through.
			c := f.client(ServiceWANIP1)
			c.MaxBodySize = 200 << 10
			if _, err := c.GetExternalIPAddress(context.Background()); err != nil {
				t.Errorf("with MaxBodySize 200 KiB: %v", err)
			}
		})
	}
}

func newStallingFake(t *testing.T) *fakeRouter {
	release := make(chan struct{})
	f := newFake(t, func(string, string) answer {
		<-release
		return answer{}
	})
	// Registered after newFake's srv.Close, so it runs first (LIFO) and lets
	// the handlers finish before the server waits for them.
	t.Cleanup(func() { close(release) })
	return f
}

func TestTimeout(t *testing.T) {
	f := newStallingFake(t)
	c := f.client(ServiceWANIP1)
	c.Timeout = 50 * time.Millisecond
	start := time.Now()
	_, err := c.GetExternalIPAddress(context.Background())
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if elapsed > time.Second {
		t.Errorf("returned after %v, want about 50ms", elapsed)
	}

	// The caller's deadline wins when it is shorter than Timeout.
	c2 := f.client(ServiceWANIP1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c2.GetExternalIPAddress(ctx)
	if !errors.Is(err, ErrTimeout) || time.Since(start) > time.Second {
		t.Errorf("caller deadline: got %v after %v", err, time.Since(start))
	}
}

func TestCancel(t *testing.T) {
	f := newStallingFake(t)
	c := f.client(ServiceWANIP1)
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(30*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err := c.GetExternalIPAddress(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("%v: a cancellation is not a timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v", d)
	}
	// Already cancelled: nothing is sent.
	n := len(f.requests())
	if _, err := c.GetStatusInfo(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if len(f.requests()) != n {
		t.Error("a request was sent with a cancelled context")
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	u, _ := url.Parse("http://" + addr + "/ctl")
	c := &Client{ControlURL: u, ServiceType: ServiceWANIP1}
	_, err = c.GetExternalIPAddress(context.Background())
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, errs.NoGateway) {
		t.Fatalf("got %v, want ErrUnreachable wrapping ECONNREFUSED", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("%v matches ErrTimeout", err)
	}
}

func TestSerialised(t *testing.T) {
	var inFlight, peak atomic.Int32
	f := newFake(t, func(action, _ string) answer {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		return okReply(ServiceWANIP1, action, "NewExternalIPAddress", "192.0.2.44")
	})
	c := f.client(ServiceWANIP1)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetExternalIPAddress(context.Background())
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("%d requests were in flight at once, want 1", p)
	}
}

func TestListPortMappings(t *testing.T) {
	entry := func(i int) answer {
		return okReply(ServiceWANIP1, "GetGenericPortMappingEntry",
			"NewRemoteHost", "", "NewExternalPort", strconv.Itoa(1000+i), "NewProtocol", "UDP",
			"NewInternalPort", strconv.Itoa(2000+i), "NewInternalClient", "10.0.0.9", "NewEnabled", "1",
			"NewPortMappingDescription", "e"+strconv.Itoa(i), "NewLeaseDuration", "0")
	}
	index := func(body string) int {
		_, rest, _ := strings.Cut(body, "<NewPortMappingIndex>")
		s, _, _ := strings.Cut(rest, "<")
		n, _ := strconv.Atoi(s)
		return n
	}
	for _, end := range []int{713, 714, 402} {
		t.Run("end "+strconv.Itoa(end), func(t *testing.T) {
			f := newFake(t, func(_, body string) answer {
				if i := index(body); i < 3 {
					return entry(i)
				}
				return faultReply(end, "end")
			})
			list, err := f.client(ServiceWANIP1).ListPortMappings(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 || list[2].ExternalPort != 1002 || list[2].Description != "e2" || list[0].Protocol != UDP {
				t.Errorf("got %+v", list)
			}
			if n := len(f.requests()); n != 4 {
				t.Errorf("%d requests, want 4", n)
			}
		})
	}
	t.Run("max count", func(t *testing.T) {
		f := newFake(t, func(string, string) answer { return entry(0) }) // a router that ignores the index
		c := f.client(ServiceWANIP1)
		c.MaxListEntries = 5
		list, err := c.ListPortMappings(context.Background())
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("got %v, want ErrTruncated", err)
		}
		if len(list) != 5 || len(f.requests()) != 5 {
			t.Errorf("%d entries, %d requests; want 5 and 5", len(list), len(f.requests()))
		}
	})
	t.Run("error midway", func(t *testing.T) {
		f := newFake(t, func(_, body string) answer {
			if index(body) < 2 {
				return entry(index(body))
			}
			return faultReply(501, "Action Failed")
		})
		list, err := f.client(ServiceWANIP1).ListPortMappings(context.Background())
		if !errors.Is(err, ErrActionFailed) || len(list) != 2 {
			t.Errorf("got %d entries, %v", len(list), err)
		}
	})
}

func TestGetListOfPortMappingsForms(t *testing.T) {
	escaped := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(listingDoc)
	raw := listingDoc[strings.Index(listingDoc, "<p:PortMappingList"):]
	cases := []struct {
		name  string
		reply answer
		max   int
		want  []PortMapping
	}{
		{"cdata", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", "<![CDATA["+listingDoc+"]]>"), 0, listingWant},
		{"escaped", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", escaped), 0, listingWant},
		{"unescaped", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", raw), 0, listingWant},
		{"max 1", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", escaped), 1, listingWant[:1]},
		{"empty listing", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", `&lt;p:PortMappingList xmlns:p="x"&gt;&lt;/p:PortMappingList&gt;`), 0, nil},
		{"empty value", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", ""), 0, nil},
		{"730", faultReply(730, "PortMappingNotFound"), 0, nil},
		{"bare ampersand", okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing",
			"<![CDATA[<p:PortMappingList><p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort><p:NewProtocol>UDP</p:NewProtocol><p:NewInternalPort>2</p:NewInternalPort><p:NewInternalClient>10.1.1.1</p:NewInternalClient><p:NewDescription>R&D</p:NewDescription></p:PortMappingEntry></p:PortMappingList>]]>"), 0,
			[]PortMapping{{ExternalPort: 1, Protocol: UDP, InternalPort: 2, InternalClient: "10.1.1.1", Enabled: true, Description: "R&D"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return tc.reply })
			got, err := f.client(ServiceWANIP2).GetListOfPortMappings(context.Background(), 0, 65535, TCP, true, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{
		"<![CDATA[<NotAList/>]]>",
		"<![CDATA[<p:PortMappingList><p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort></p:PortMappingEntry></p:PortMappingList>]]>",
		"<![CDATA[<p:PortMappingList><p:PortMappingEntry><p:NewExternalPort>99999</p:NewExternalPort><p:NewProtocol>UDP</p:NewProtocol><p:NewInternalPort>2</p:NewInternalPort><p:NewInternalClient>x</p:NewInternalClient></p:PortMappingEntry></p:PortMappingList>]]>",
		"not xml",
	} {
		f := newFake(t, func(string, string) answer {
			return okReply(ServiceWANIP2, "GetListOfPortMappings", "NewPortListing", bad)
		})
		_, err := f.client(ServiceWANIP2).GetListOfPortMappings(context.Background(), 0, 65535, TCP, true, 0)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
	f := newFake(t, func(string, string) answer { return okReply(ServiceWANIP2, "GetListOfPortMappings") })
	if _, err := f.client(ServiceWANIP2).GetListOfPortMappings(context.Background(), 0, 1, TCP, true, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("missing NewPortListing: got %v", err)
	}
}

func TestIsRetryWithPermanentLease(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&UPnPError{Action: "AddPortMapping", Code: 725}, true},
		{&UPnPError{Action: "AddAnyPortMapping", Code: 725}, true},
		{&UPnPError{Action: "AddPortMapping", Code: 402}, true},
		{&UPnPError{Action: "AddAnyPortMapping", Code: 402}, true},
		{&UPnPError{Action: "GetGenericPortMappingEntry", Code: 402}, false},
		{&UPnPError{Action: "AddPortMapping", Code: 718}, false},
		{errs.OnlyPermanentLeases, false}, // only a gateway's answer counts
		{nil, false},
	}
	for _, tc := range cases {
		err := tc.err
		if err != nil {
			err = errors.Join(errors.New("wrapped"), err)
		}
		if got := IsRetryWithPermanentLease(err); got != tc.want {
			t.Errorf("%v: got %v", tc.err, got)
		}
	}
}

func TestUPnPErrorMessage(t *testing.T) {
	e := &UPnPError{Action: "AddPortMapping", Code: 718, Description: "ConflictInMappingEntry"}
	if got, want := e.Error(), "igd: AddPortMapping: 718 ConflictInMappingEntry"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if e.FailedAction() != "AddPortMapping" || e.UPnPCode() != 718 {
		t.Errorf("FailedAction %q, UPnPCode %d", e.FailedAction(), e.UPnPCode())
	}
	e = &UPnPError{Action: "AddPortMapping", Code: 799, Description: "Vendor says no"}
	if got, want := e.Error(), "igd: AddPortMapping: 799 UPnP error (router says: Vendor says no)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A hand-built error with hostile text is still safe to print.
	e = &UPnPError{Action: "GetExternalIPAddress", Code: 718, Description: "x\x1b[2J\u202Ey"}
	if got, want := e.Error(), "igd: GetExternalIPAddress: 718 ConflictInMappingEntry (router says: x[2Jy)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPrivateHTTPClient(t *testing.T) {
	u, _ := url.Parse("http://192.0.2.1/ctl")
	c := &Client{ControlURL: u, ServiceType: ServiceWANIP1, Timeout: 2 * time.Second}
	c.once.Do(c.init)
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.hc.Transport)
	}
	if tr == http.DefaultTransport || tr.Proxy != nil || !tr.DisableKeepAlives || tr.ResponseHeaderTimeout != 2*time.Second {
		t.Errorf("transport: proxy %v keepalive-off %v header-timeout %v", tr.Proxy != nil, tr.DisableKeepAlives, tr.ResponseHeaderTimeout)
	}
	if c.hc.CheckRedirect == nil {
		t.Error("redirects would be followed")
	}
	c2 := &Client{ControlURL: u, ServiceType: ServiceWANIP1}
	c2.once.Do(c2.init)
	if c2.hc == c.hc || c2.hc.Transport == c.hc.Transport {
		t.Error("two Clients share an http.Client")
	}
}

type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestCallerHTTPClient(t *testing.T) {
	target := newFake(t, func(action, _ string) answer {
		return okReply(ServiceWANIP1, action, "NewExternalIPAddress", "192.0.2.99")
	})
	f := newFake(t, func(string, string) answer {
		return answer{status: 307, header: map[string]string{"Location": target.srv.URL + "/ctl"}}
	})
	tr := &countingTransport{next: &http.Transport{DisableKeepAlives: true}}
	hc := &http.Client{Transport: tr} // follows redirects by default
	c := f.client(ServiceWANIP1)
	c.HTTPClient = hc
	_, err := c.GetExternalIPAddress(context.Background())
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 307 {
		t.Errorf("got %v, want a *ResponseError with status 307", err)
	}
	if tr.n.Load() != 1 || len(target.requests()) != 0 {
		t.Errorf("transport used %d times, redirect target hit %d times", tr.n.Load(), len(target.requests()))
	}
	if hc.CheckRedirect != nil {
		t.Error("the caller's http.Client was modified")
	}
}

type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestLogger(t *testing.T) {
	f := newFake(t, func(string, string) answer { return faultReply(606, "Action not authorized") })
	h := &recordHandler{}
	c := f.client(ServiceWANIP2)
	c.Logger = slog.New(h)
	_ = c.DeletePortMapping(context.Background(), "", 1, TCP)
	// One record for the request, one for the response.
	if len(h.recs) != 2 {
		t.Fatalf("%d records, want 2", len(h.recs))
	}
	req := map[string]string{}
	h.recs[0].Attrs(func(a slog.Attr) bool { req[a.Key] = a.Value.String(); return true })
	if h.recs[0].Message != "igd: soap request" || req["action"] != "DeletePortMapping" || req["service"] != ServiceWANIP2 {
		t.Errorf("request record %q %v", h.recs[0].Message, req)
	}
	r := h.recs[1]
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if r.Level != slog.LevelDebug || r.Message != "igd: soap response" || attrs["action"] != "DeletePortMapping" ||
		attrs["status"] != "500" || !strings.Contains(attrs["err"], "606") || attrs["upnp_code"] != "606" || attrs["elapsed"] == "" {
		t.Errorf("record %v %q %v", r.Level, r.Message, attrs)
	}
}
