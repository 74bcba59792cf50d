package gatewaytest

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// descDevice mirrors the description schema (UDA 2.0 §2.3) for the tests.
type descDevice struct {
	DeviceType string `xml:"deviceType"`
	UDN        string `xml:"UDN"`
	Services   []struct {
		ServiceType string `xml:"serviceType"`
		ServiceID   string `xml:"serviceId"`
		ControlURL  string `xml:"controlURL"`
		SCPDURL     string `xml:"SCPDURL"`
	} `xml:"serviceList>service"`
	Devices []descDevice `xml:"deviceList>device"`
}

func fetchDescription(t *testing.T, g *Gateway) descDevice {
	t.Helper()
	resp, err := httpClient(t, netip.Addr{}, 2*time.Second).Get(g.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("description: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var root struct {
		XMLName xml.Name   `xml:"urn:schemas-upnp-org:device-1-0 root"`
		Device  descDevice `xml:"device"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&root); err != nil {
		t.Fatal(err)
	}
	return root.Device
}

func TestDescription(t *testing.T) {
	for _, tc := range []struct {
		cfg          Config
		v, conn, ctl string
		services     int // the WANConnectionDevice's: IGD:2 adds the firewall
	}{
		{Config{}, "2", wanip2, "/ctl/IPConn", 2},
		{Config{IGDVersion: 1}, "1", wanip1, "/ctl/IPConn", 1},
		{Config{PPP: true, IGDVersion: 1}, "1", wanppp, "/ctl/PPPConn", 1},
	} {
		g := New(t, tc.cfg)
		root := fetchDescription(t, g)
		if root.DeviceType != "urn:schemas-upnp-org:device:InternetGatewayDevice:"+tc.v || len(root.Devices) != 1 {
			t.Fatalf("%+v: root %+v", tc.cfg, root)
		}
		wan := root.Devices[0]
		if wan.DeviceType != "urn:schemas-upnp-org:device:WANDevice:"+tc.v || len(wan.Services) != 1 ||
			wan.Services[0].ServiceType != "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1" || len(wan.Devices) != 1 {
			t.Fatalf("%+v: WANDevice %+v", tc.cfg, wan)
		}
		conn := wan.Devices[0]
		if conn.DeviceType != "urn:schemas-upnp-org:device:WANConnectionDevice:"+tc.v || len(conn.Services) != tc.services ||
			conn.Services[0].ServiceType != tc.conn || conn.Services[0].ControlURL != tc.ctl {
			t.Fatalf("%+v: WANConnectionDevice %+v", tc.cfg, conn)
		}
		if root.UDN == wan.UDN || wan.UDN == conn.UDN || !strings.HasPrefix(root.UDN, "uuid:") {
			t.Errorf("UDNs %s %s %s", root.UDN, wan.UDN, conn.UDN)
		}
		// The SCPD is served and lists the actions.
		resp, err := httpClient(t, netip.Addr{}, 2*time.Second).Get("http://" + g.HTTPAddr().String() + conn.Services[0].SCPDURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<name>AddPortMapping</name>") {
			t.Fatalf("SCPD: %s %s", resp.Status, body)
		}
		if has := strings.Contains(string(body), "AddAnyPortMapping"); has != (tc.conn == wanip2) {
			t.Errorf("%s SCPD lists AddAnyPortMapping: %v", tc.conn, has)
		}
	}
}

func TestSOAPPortMappingLifecycle(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	me := "127.0.0.1"

	mustOK(t, "add", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(8080, "TCP", 80, me, "web", 3600)}.do(t, g))
	m := only(t, g)
	if m.Method != UPnP || m.Protocol != "TCP" || m.ExternalPort != 8080 || m.InternalPort != 80 ||
		m.InternalAddr.String() != me || m.Description != "web" || m.Lifetime != time.Hour || !m.Enabled {
		t.Fatalf("table entry %+v", m)
	}
	clk.Advance(100 * time.Second)
	out := mustOK(t, "get specific", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(8080, "TCP")}.do(t, g))
	if out["NewInternalPort"] != "80" || out["NewInternalClient"] != me || out["NewEnabled"] != "1" ||
		out["NewPortMappingDescription"] != "web" || out["NewLeaseDuration"] != "3500" {
		t.Fatalf("GetSpecificPortMappingEntry %v", out)
	}
	out = mustOK(t, "get generic 0", soapCall{svc: wanip2, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "0"}}}.do(t, g))
	if out["NewExternalPort"] != "8080" || out["NewProtocol"] != "TCP" || out["NewInternalClient"] != me || out["NewRemoteHost"] != "" {
		t.Fatalf("GetGenericPortMappingEntry %v", out)
	}
	mustFault(t, "get generic 1", soapCall{svc: wanip2, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "1"}}}.do(t, g), 713)

	// Renewal: the identical request overwrites (and may re-point the port).
	mustOK(t, "renew", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(8080, "TCP", 81, me, "web", 7200)}.do(t, g))
	if m := only(t, g); m.InternalPort != 81 || m.Lifetime != 2*time.Hour {
		t.Fatalf("after renewal %+v", m)
	}

	mustOK(t, "delete", soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(8080, "TCP")}.do(t, g))
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("table after delete %+v", ms)
	}
	mustFault(t, "delete again", soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(8080, "TCP")}.do(t, g), 714)
	mustFault(t, "get deleted", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(8080, "TCP")}.do(t, g), 714)
	mustFault(t, "get generic empty", soapCall{svc: wanip2, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "0"}}}.do(t, g), 713)
}

func TestSOAPLeaseRules(t *testing.T) {
	// IGD:2: 0 and anything above a week become a week.
	g2 := New(t, Config{})
	mustOK(t, "v2 lease 0", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(1000, "UDP", 1000, "", "x", 0)}.do(t, g2))
	mustOK(t, "v2 lease 10M", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(1001, "UDP", 1001, "", "x", 10_000_000)}.do(t, g2))
	for _, m := range g2.Mappings() {
		if m.Lifetime != 604800*time.Second {
			t.Errorf("IGD:2 lease of port %d: %v, want a week", m.ExternalPort, m.Lifetime)
		}
		if m.InternalAddr.String() != "127.0.0.1" {
			t.Errorf("empty NewInternalClient became %v, want the caller", m.InternalAddr)
		}
	}
	// IGD:1: 0 is permanent.
	g1 := New(t, Config{IGDVersion: 1})
	mustOK(t, "v1 lease 0", soapCall{svc: wanip1, action: "AddPortMapping", args: addArgs(1000, "UDP", 1000, "", "x", 0)}.do(t, g1))
	if m := only(t, g1); m.Lifetime != 0 || !m.Expires.IsZero() {
		t.Errorf("IGD:1 lease 0: %+v, want permanent", m)
	}
}

func TestSOAPExpiry(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	mustOK(t, "add", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(5000, "TCP", 5000, "", "x", 30)}.do(t, g))
	clk.Advance(30 * time.Second)
	if ms := g.Mappings(); len(ms) != 0 {
		t.Fatalf("lease outlived: %+v", ms)
	}
	mustFault(t, "get expired", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(5000, "TCP")}.do(t, g), 714)
}

func TestSOAPConflicts(t *testing.T) {
	g := New(t, Config{})
	g.AddMapping(Mapping{Protocol: "TCP", ExternalPort: 443})
	mustFault(t, "add over another host", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(443, "TCP", 443, "", "x", 60)}.do(t, g), 718)
	out := mustOK(t, "add any", soapCall{svc: wanip2, action: "AddAnyPortMapping", args: addArgs(443, "TCP", 443, "", "x", 60)}.do(t, g))
	if out["NewReservedPort"] != "444" {
		t.Fatalf("AddAnyPortMapping reserved %q, want 444", out["NewReservedPort"])
	}
	mustFault(t, "external port 0", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(0, "TCP", 1, "", "x", 60)}.do(t, g), 716)
	// A NAT-PMP mapping of another host blocks UPnP too: one table.
	c := dialFrom(t, netip.MustParseAddr("127.0.0.7"), g.PCPAddr())
	parsePMPMap(t, c.roundTrip(pmpMap(2, 9000, 9000, 600)))
	mustFault(t, "add over NAT-PMP", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(9000, "TCP", 9000, "", "x", 60)}.do(t, g), 718)
	out = mustOK(t, "list NAT-PMP", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(9000, "TCP")}.do(t, g))
	if out["NewInternalClient"] != "127.0.0.7" || out["NewPortMappingDescription"] != "NAT-PMP 9000 tcp" {
		t.Fatalf("NAT-PMP entry over UPnP: %v", out)
	}
}

func TestSOAPArgumentErrors(t *testing.T) {
	g := New(t, Config{})
	for name, args := range map[string][][2]string{
		"missing args":    keyArgs(1, "TCP"),
		"bad protocol":    addArgs(1, "SCTP", 1, "", "x", 60),
		"bad port":        addArgs(70000, "TCP", 1, "", "x", 60),
		"internal port 0": addArgs(1, "TCP", 0, "", "x", 60),
		"host name":       addArgs(1, "TCP", 1, "router.lan", "x", 60),
		"bad lease":       addArgs(1, "TCP", 1, "", "x", -1),
	} {
		mustFault(t, name, soapCall{svc: wanip2, action: "AddPortMapping", args: args}.do(t, g), 402)
	}
	mustFault(t, "bad index", soapCall{svc: wanip2, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "x"}}}.do(t, g), 402)
	mustFault(t, "unknown action", soapCall{svc: wanip2, action: "Reboot"}.do(t, g), 401)
	if len(g.Mappings()) != 0 {
		t.Fatal("a failed request created an entry")
	}
}

func TestSOAPActionHeader(t *testing.T) {
	g := New(t, Config{})
	ext := soapCall{svc: wanip2, action: "GetExternalIPAddress"}
	if out := mustOK(t, "plain", ext.do(t, g)); out["NewExternalIPAddress"] != DefaultExternalAddr.String() {
		t.Fatalf("GetExternalIPAddress %v", out)
	}
	for name, h := range map[string]string{
		"unquoted":       wanip2 + "#GetExternalIPAddress",
		"no action":      `"` + wanip2 + `"`,
		"other action":   `"` + wanip2 + `#GetStatusInfo"`,
		"other service":  `"urn:schemas-upnp-org:service:WANPPPConnection:1#GetExternalIPAddress"`,
		"higher version": `"urn:schemas-upnp-org:service:WANIPConnection:3#GetExternalIPAddress"`,
	} {
		c := ext
		c.header = &h
		mustFault(t, name, c.do(t, g), 401)
	}
	// Version 1 of the same service is accepted by a version-2 service,
	// when body and header agree.
	if out := mustOK(t, "v1 on v2", soapCall{svc: wanip1, action: "GetExternalIPAddress", path: "/ctl/IPConn"}.do(t, g)); out["NewExternalIPAddress"] == "" {
		t.Fatal("no address")
	}
}

func TestSOAPMalformedRequests(t *testing.T) {
	g := New(t, Config{})
	c := soapCall{svc: wanip2, action: "GetExternalIPAddress"}
	for name, body := range map[string]string{
		"not XML":      "hello",
		"no envelope":  `<Body><u:GetExternalIPAddress xmlns:u="` + wanip2 + `"/></Body>`,
		"empty body":   `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`,
		"nested arg":   `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="` + wanip2 + `"><a><b/></a></u:GetExternalIPAddress></s:Body></s:Envelope>`,
		"truncated":    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="` + wanip2 + `">`,
		"repeated arg": `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="` + wanip2 + `"><a/><a/></u:GetExternalIPAddress></s:Body></s:Envelope>`,
	} {
		if r := c.post(t, g, body); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, r.status)
		}
	}
	if r := c.post(t, g, strings.Repeat(" ", maxSOAPBody+1)); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", r.status)
	}
	cl := httpClient(t, netip.Addr{}, 2*time.Second)
	for path, want := range map[string]int{"/ctl/IPConn": 405, "/nothing": 404} {
		resp, err := cl.Get("http://" + g.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestSOAPV2Actions(t *testing.T) {
	g := New(t, Config{})
	other := netip.MustParseAddr("127.0.0.9")
	mustOK(t, "add mine", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(2000, "TCP", 2000, "", "a&b", 600)}.do(t, g))
	mustOK(t, "add other", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(2001, "TCP", 2001, "", "o", 600), from: other}.do(t, g))
	list := func(manage string, from netip.Addr) soapResult {
		return soapCall{svc: wanip2, action: "GetListOfPortMappings", from: from, args: [][2]string{
			{"NewStartPort", "1"}, {"NewEndPort", "65535"}, {"NewProtocol", "TCP"}, {"NewManage", manage}, {"NewNumberOfPorts", "0"}}}.do(t, g)
	}
	out := mustOK(t, "list managed", list("1", netip.Addr{}))
	var pl struct {
		Entries []struct {
			Port   int    `xml:"NewExternalPort"`
			Client string `xml:"NewInternalClient"`
			Desc   string `xml:"NewDescription"`
			Lease  int    `xml:"NewLeaseTime"`
		} `xml:"PortMappingEntry"`
	}
	if err := xml.Unmarshal([]byte(out["NewPortListing"]), &pl); err != nil {
		t.Fatalf("listing: %v\n%s", err, out["NewPortListing"])
	}
	if len(pl.Entries) != 2 || pl.Entries[0].Port != 2000 || pl.Entries[0].Desc != "a&b" || pl.Entries[0].Lease != 600 ||
		pl.Entries[1].Client != "127.0.0.9" {
		t.Fatalf("listing %+v", pl)
	}
	// Without Manage only the caller's own entries are listed.
	if out = mustOK(t, "list own", list("0", other)); strings.Count(out["NewPortListing"], "PortMappingEntry>") != 2 {
		t.Fatalf("unmanaged listing: %s", out["NewPortListing"])
	}
	mustFault(t, "empty range", soapCall{svc: wanip2, action: "GetListOfPortMappings", args: [][2]string{
		{"NewStartPort", "10"}, {"NewEndPort", "20"}, {"NewProtocol", "TCP"}, {"NewManage", "1"}, {"NewNumberOfPorts", "0"}}}.do(t, g), 730)
	mustFault(t, "inverted range", soapCall{svc: wanip2, action: "GetListOfPortMappings", args: [][2]string{
		{"NewStartPort", "20"}, {"NewEndPort", "10"}, {"NewProtocol", "TCP"}, {"NewManage", "1"}, {"NewNumberOfPorts", "0"}}}.do(t, g), 733)
	mustOK(t, "delete range", soapCall{svc: wanip2, action: "DeletePortMappingRange", args: [][2]string{
		{"NewStartPort", "1"}, {"NewEndPort", "65535"}, {"NewProtocol", "TCP"}, {"NewManage", "0"}}}.do(t, g))
	if m := only(t, g); m.InternalAddr != other {
		t.Fatalf("DeletePortMappingRange without Manage removed another host's entry: %+v", m)
	}
}

func TestSOAPIGD1HasNoV2Actions(t *testing.T) {
	g := New(t, Config{IGDVersion: 1})
	mustFault(t, "AddAnyPortMapping on IGD:1", soapCall{svc: wanip1, action: "AddAnyPortMapping", args: addArgs(1, "TCP", 1, "", "", 0)}.do(t, g), 401)
	p := New(t, Config{PPP: true})
	mustOK(t, "PPP add", soapCall{svc: wanppp, action: "AddPortMapping", args: addArgs(1, "TCP", 1, "", "", 0)}.do(t, p))
	if m := only(t, p); m.ExternalPort != 1 {
		t.Fatalf("PPP entry %+v", m)
	}
}

func TestSOAPStatusAndCommonInterface(t *testing.T) {
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now})
	clk.Advance(90 * time.Second)
	out := mustOK(t, "status", soapCall{svc: wanip2, action: "GetStatusInfo"}.do(t, g))
	if out["NewConnectionStatus"] != "Connected" || out["NewUptime"] != "90" {
		t.Fatalf("GetStatusInfo %v", out)
	}
	cmn := "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
	if out = mustOK(t, "link", soapCall{svc: cmn, action: "GetCommonLinkProperties"}.do(t, g)); out["NewPhysicalLinkStatus"] != "Up" {
		t.Fatalf("GetCommonLinkProperties %v", out)
	}
	g.SetExternalAddr(netip.IPv4Unspecified())
	if out = mustOK(t, "status down", soapCall{svc: wanip2, action: "GetStatusInfo"}.do(t, g)); out["NewConnectionStatus"] != "Disconnected" {
		t.Fatalf("GetStatusInfo without uplink %v", out)
	}
	if out = mustOK(t, "ext down", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g)); out["NewExternalIPAddress"] != "" {
		t.Fatalf("GetExternalIPAddress without uplink %v", out)
	}
}
