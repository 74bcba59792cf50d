package gatewaytest

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Tests of the knobs for hostile and broken routers (issue 21): what they
// put on the wire, read back with encoding/xml or byte by byte.

// faultDescription extracts errorDescription from a SOAP fault body.
func faultDescription(t *testing.T, body string) string {
	t.Helper()
	var env struct {
		Desc string `xml:"Body>Fault>detail>UPnPError>errorDescription"`
	}
	if err := xml.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("fault body: %v", err)
	}
	return env.Desc
}

func TestFailActionTextHuge(t *testing.T) {
	g := New(t, Config{})
	huge := "<&> " + strings.Repeat("port in use ", 5000) // 60 KB
	g.FailActionText("GetExternalIPAddress", 718, huge)
	r := soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g)
	if r.status != 500 || r.code != 718 {
		t.Fatalf("status %d code %d", r.status, r.code)
	}
	if got := faultDescription(t, r.body); got != huge {
		t.Fatalf("errorDescription of %d bytes differs from the %d given", len(got), len(huge))
	}
	if len(r.body) >= 64<<10 {
		t.Errorf("a 60 KB text made a %d-byte fault, over 64 KiB", len(r.body))
	}
	// Other actions are unaffected; clearing restores the action.
	mustOK(t, "GetStatusInfo", soapCall{svc: wanip2, action: "GetStatusInfo"}.do(t, g))
	g.FailActionText("GetExternalIPAddress", 0, "")
	mustOK(t, "cleared", soapCall{svc: wanip2, action: "GetExternalIPAddress"}.do(t, g))
}

func TestFailActionTextControls(t *testing.T) {
	g := New(t, Config{})
	g.FailActionText("*", 501, HostileText)
	r := soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 0)}.do(t, g)
	if r.code != 501 {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	got := faultDescription(t, r.body)
	for _, c := range []string{"\u009b", "\u0085", "\u202e", "\u2066"} {
		if !strings.Contains(got, c) {
			t.Errorf("errorDescription %q lacks %U", got, []rune(c)[0])
		}
	}

	g.FailActionText("*", 501, HostileTextC0)
	r = soapCall{svc: wanip2, action: "GetStatusInfo"}.do(t, g)
	if !strings.Contains(r.body, "<errorDescription>port \x1b[31mbusy\x1b[0m\x07</errorDescription>") {
		t.Errorf("ESC and BEL not sent raw: %q", r.body)
	}
	if err := xml.Unmarshal([]byte(r.body), new(struct{})); err == nil {
		t.Error("a fault with raw ESC parsed as XML")
	}
}

func TestUnknownResultCodes(t *testing.T) {
	g := New(t, Config{})
	g.SetResult(NATPMP, 99)
	g.SetResult(PCP, 200)
	pmp := dialFrom(t, netip.Addr{}, g.PCPAddr())
	if r := parsePMPMap(t, pmp.roundTrip(pmpMap(2, 8080, 8080, 3600))); r.result != 99 || r.op != 130 {
		t.Errorf("NAT-PMP map: result %d op %d, want 99 and 130", r.result, r.op)
	}
	if r := pmp.roundTrip(pmpExternal()); len(r) != 12 || r[3] != 0 {
		t.Errorf("NAT-PMP external address under SetResult: % x", r)
	}
	c := dialFrom(t, netip.MustParseAddr("127.0.0.1"), g.PCPAddr())
	req := pcpReq{opcode: 1, lifetime: 600, client: netip.MustParseAddr("::ffff:127.0.0.1"), nonce: nonce(5), proto: 6, internal: 5000}
	if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != 200 || r.lifetime != 0 {
		t.Errorf("PCP map: result %d lifetime %d, want 200 and 0", r.result, r.lifetime)
	}
	if n := len(g.Mappings()); n != 0 {
		t.Errorf("%d entries after refusals", n)
	}
}

func TestOnlyLayer3Forwarding(t *testing.T) {
	g := New(t, Config{OnlyLayer3Forwarding: true})
	root := fetchDescription(t, g)
	if root.DeviceType != "urn:schemas-upnp-org:device:InternetGatewayDevice:2" || len(root.Devices) != 0 ||
		len(root.Services) != 1 || root.Services[0].ServiceType != "urn:schemas-upnp-org:service:Layer3Forwarding:1" {
		t.Fatalf("description %+v", root)
	}
	l3f := "urn:schemas-upnp-org:service:Layer3Forwarding:1"
	out := mustOK(t, "GetDefaultConnectionService", soapCall{svc: l3f, action: "GetDefaultConnectionService", path: root.Services[0].ControlURL}.do(t, g))
	if v, ok := out["NewDefaultConnectionService"]; !ok || v != "" {
		t.Errorf("GetDefaultConnectionService = %v", out)
	}
	r := soapCall{svc: wanip2, action: "AddPortMapping", path: "/ctl/IPConn", args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 0)}.do(t, g)
	if r.status != 404 {
		t.Errorf("AddPortMapping on the usual control URL: status %d", r.status)
	}
	mustFault(t, "AddPortMapping on Layer3Forwarding", soapCall{svc: l3f, action: "AddPortMapping",
		path: root.Services[0].ControlURL, args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 0)}.do(t, g), 401)
	// SSDP still says "internet gateway".
	if h := ssdpAnswers(t, g, msearch("urn:schemas-upnp-org:device:InternetGatewayDevice:1"), time.Second); len(h) != 1 {
		t.Errorf("%d SSDP answers for IGD:1", len(h))
	}
	if h := ssdpAnswers(t, g, msearch(wanip1), 300*time.Millisecond); len(h) != 0 {
		t.Errorf("SSDP answers for WANIPConnection:1: %v", h)
	}
}

func TestNestedDevices(t *testing.T) {
	const depth = 6000
	g := New(t, Config{NestedDevices: depth})
	resp, err := httpClient(t, netip.Addr{}, 5*time.Second).Get(g.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < depth*NestedDeviceBytes || len(body) >= 256<<10 {
		t.Errorf("description of %d bytes; want at least %d and under 256 KiB", len(body), depth*NestedDeviceBytes)
	}
	// Walk it as tokens: the nesting is there, and so is the usual
	// connection service after it.
	d := xml.NewDecoder(bytes.NewReader(body))
	var level, deepest int
	var services []string
	inType := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			level++
			deepest = max(deepest, level)
			inType = tk.Name.Local == "serviceType"
		case xml.EndElement:
			level--
			inType = false
		case xml.CharData:
			if inType {
				services = append(services, string(tk))
			}
		}
	}
	if deepest < 2*depth {
		t.Errorf("deepest element at level %d, want at least %d", deepest, 2*depth)
	}
	if !strings.Contains(strings.Join(services, " "), wanip2) {
		t.Errorf("services %v lack %s", services, wanip2)
	}
	// SSDP answers as before: the nest is in the description only.
	if h := ssdpAnswers(t, g, msearch("ssdp:all"), time.Second); len(h) > 20 {
		t.Errorf("%d SSDP answers to ssdp:all", len(h))
	}
}

func TestFriendlyAndModelName(t *testing.T) {
	g := New(t, Config{FriendlyName: HostileText, ModelName: "RT-AX\u202e88U"})
	resp, err := httpClient(t, netip.Addr{}, 2*time.Second).Get(g.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var root struct {
		Friendly string `xml:"device>friendlyName"`
		Model    string `xml:"device>modelName"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&root); err != nil {
		t.Fatal(err)
	}
	if root.Friendly != HostileText || root.Model != "RT-AX\u202e88U" {
		t.Errorf("friendlyName %q modelName %q", root.Friendly, root.Model)
	}
}
