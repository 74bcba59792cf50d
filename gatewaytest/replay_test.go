package gatewaytest

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const handmade = "testdata/replay/handmade-igd1"

// get fetches a path of the gateway's HTTP server.
func get(t *testing.T, g *Gateway, path string) (int, []byte) {
	t.Helper()
	resp, err := httpClient(t, netip.Addr{}, 2*time.Second).Get("http://" + g.HTTPAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestReplayDescriptionRewritten(t *testing.T) {
	g := New(t, Config{Replay: os.DirFS(handmade)})
	self := "http://" + g.HTTPAddr().String()
	_, desc := get(t, g, descPath)
	for _, want := range []string{
		"<URLBase>" + self + "</URLBase>",
		"<SCPDURL>" + self + "/WANIPCn.xml</SCPDURL>",
		"<presentationURL>" + self + "/</presentationURL>",
		"<controlURL>upnp/control/WANIPConn1</controlURL>", // relative: kept
		"<SCPDURL>/L3F.xml</SCPDURL>",
		"<friendlyName>Handmade Router</friendlyName>",
	} {
		if !bytes.Contains(desc, []byte(want)) {
			t.Errorf("description lacks %s", want)
		}
	}
	// Only the URL elements move; other text that names the capture's
	// address (manufacturerURL is not a URL the client follows) is kept.
	if n := bytes.Count(desc, []byte("192.168.0.1")); n != 1 {
		t.Errorf("%d mentions of the captured address left, want 1 (manufacturerURL):\n%s", n, desc)
	}
	// A reboot moves the HTTP port; the served URLs follow it.
	g.Reboot()
	if _, desc := get(t, g, descPath); !bytes.Contains(desc, []byte("<URLBase>http://"+g.HTTPAddr().String()+"</URLBase>")) || g.HTTPAddr().String() == self[len("http://"):] {
		t.Errorf("after a reboot (now %v) the description still says %s", g.HTTPAddr(), self)
	}
	for _, name := range []string{"WANIPCn.xml", "L3F.xml", "WANCfg.xml"} {
		want, err := os.ReadFile(handmade + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if code, got := get(t, g, "/"+name); code != 200 || !bytes.Equal(got, want) {
			t.Errorf("SCPD %s: status %d, %d bytes, want the captured %d", name, code, len(got), len(want))
		}
	}
}

func TestReplaySOAP(t *testing.T) {
	g := New(t, Config{Replay: os.DirFS(handmade)})
	ctl := "/upnp/control/WANIPConn1"
	call := func(action string, args [][2]string) soapCall {
		return soapCall{svc: wanip1, action: action, args: args, path: ctl}
	}
	// Captured bodies answer the actions without state …
	if out := mustOK(t, "GetExternalIPAddress", call("GetExternalIPAddress", nil).do(t, g)); out["NewExternalIPAddress"] != "198.51.100.23" {
		t.Errorf("GetExternalIPAddress = %v, want the captured 198.51.100.23", out)
	}
	if out := mustOK(t, "GetNATRSIPStatus", call("GetNATRSIPStatus", nil).do(t, g)); out["NewNATEnabled"] != "1" {
		t.Errorf("GetNATRSIPStatus = %v", out)
	}
	// … the table answers the mapping actions (the captured AddPortMapping
	// body is not used), under the capture's IGD:1 rules (lease 0 is
	// permanent).
	mustOK(t, "AddPortMapping", call("AddPortMapping", addArgs(7000, "TCP", 8000, "127.0.0.1", "replay", 0)).do(t, g))
	m := only(t, g)
	if m.ExternalPort != 7000 || m.InternalPort != 8000 || m.Method != UPnP || m.Lifetime != 0 {
		t.Errorf("table entry %+v", m)
	}
	if out := mustOK(t, "GetSpecificPortMappingEntry", call("GetSpecificPortMappingEntry", keyArgs(7000, "TCP")).do(t, g)); out["NewInternalPort"] != "8000" {
		t.Errorf("GetSpecificPortMappingEntry = %v", out)
	}
	mustOK(t, "DeletePortMapping", call("DeletePortMapping", keyArgs(7000, "TCP")).do(t, g))
	if n := len(g.Mappings()); n != 0 {
		t.Errorf("%d entries after delete", n)
	}
	// A service without captured bodies answers from the fake.
	out := mustOK(t, "GetCommonLinkProperties", soapCall{svc: "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
		action: "GetCommonLinkProperties", path: "/upnp/control/WANCommonIFC1"}.do(t, g))
	if out["NewPhysicalLinkStatus"] != "Up" {
		t.Errorf("GetCommonLinkProperties = %v", out)
	}
	// The built-in control URL does not exist on a replay.
	if r := (soapCall{svc: wanip1, action: "GetStatusInfo", path: "/ctl/IPConn"}).do(t, g); r.status != 404 {
		t.Errorf("built-in control URL: status %d", r.status)
	}
}

func TestReplaySSDP(t *testing.T) {
	g := New(t, Config{Replay: os.DirFS(handmade)})
	h := ssdpAnswers(t, g, msearch(wanip1), time.Second)
	if len(h) != 1 || h[0]["LOCATION"] != g.LocationURL() ||
		h[0]["USN"] != "uuid:11111111-2222-3333-4444-555555555557::"+wanip1 {
		t.Errorf("answers for WANIPConnection:1: %v", h)
	}
	if h := ssdpAnswers(t, g, msearch(wanip2), 300*time.Millisecond); len(h) != 0 {
		t.Errorf("an IGD:1 capture answered for WANIPConnection:2: %v", h)
	}
}

func TestReplayBadCaptures(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"empty":     {},
		"not XML":   {"rootDesc.xml": {Data: []byte("<root><device>")}},
		"no device": {"rootDesc.xml": {Data: []byte(`<root xmlns="urn:schemas-upnp-org:device-1-0"/>`)}},
		"too deep":  {"rootDesc.xml": {Data: []byte("<root>" + strings.Repeat("<device><deviceList>", 40) + strings.Repeat("</deviceList></device>", 40) + "</root>")}},
		"too big":   {"rootDesc.xml": {Data: bytes.Repeat([]byte(" "), maxReplayFile+1)}},
	} {
		g, err := Start(Config{Replay: fsys})
		if err == nil {
			g.Close()
			t.Errorf("%s: Start accepted the capture", name)
		}
	}
	// A capture without SCPDs or soap/ is fine: the SCPDs come from the fake.
	desc, err := os.ReadFile(handmade + "/rootDesc.xml")
	if err != nil {
		t.Fatal(err)
	}
	g := New(t, Config{Replay: fstest.MapFS{"rootDesc.xml": {Data: desc}}})
	if code, body := get(t, g, "/WANIPCn.xml"); code != 200 || !bytes.Contains(body, []byte("<name>AddPortMapping</name>")) {
		t.Errorf("generated SCPD: %d %s", code, body)
	}
}

func TestRewriteHost(t *testing.T) {
	for in, want := range map[string]string{
		"http://192.168.1.1:5000/ctl?x=1": "http://H/ctl?x=1",
		"HTTPS://router.lan":              "http://H",
		"/abs/path":                       "/abs/path",
		"rel/path":                        "rel/path",
		"":                                "",
	} {
		if got := rewriteHost(in, "H"); got != want {
			t.Errorf("rewriteHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServedPath(t *testing.T) {
	for _, tc := range []struct{ base, ref, want string }{
		{"", "/ctl/IPConn", "/ctl/IPConn"},
		{"", "ctl/IPConn", "/ctl/IPConn"}, // against the LOCATION /rootDesc.xml
		{"http://10.0.0.1:49152", "upnp/control/x", "/upnp/control/x"},
		{"http://10.0.0.1:49152/base/", "ctl", "/base/ctl"},
		{"", "http://10.0.0.1:5000/abs", "/abs"},
		{"", "/soap.cgi?service=WANIPConn1", "/soap.cgi?service=WANIPConn1"}, // D-Link: the query tells services apart
	} {
		if got, ok := servedPath(tc.base, tc.ref); !ok || got != tc.want {
			t.Errorf("servedPath(%q, %q) = %q, %v; want %q", tc.base, tc.ref, got, ok, tc.want)
		}
	}
	if _, ok := servedPath("", ""); ok {
		t.Error("an empty URL has a path")
	}
}

// TestReplayQueryControlURLs: services told apart only by the query of
// their control URL (D-Link, DD-WRT) each get their own requests.
func TestReplayQueryControlURLs(t *testing.T) {
	desc, err := os.ReadFile(handmade + "/rootDesc.xml")
	if err != nil {
		t.Fatal(err)
	}
	desc = bytes.Replace(desc, []byte("<controlURL>upnp/control/WANIPConn1</controlURL>"), []byte("<controlURL>/soap.cgi?service=WANIPConn1</controlURL>"), 1)
	desc = bytes.Replace(desc, []byte("<controlURL>/upnp/control/WANCommonIFC1</controlURL>"), []byte("<controlURL>/soap.cgi?service=WANCommonIFC1</controlURL>"), 1)
	g := New(t, Config{Replay: fstest.MapFS{"rootDesc.xml": {Data: desc}}})
	mustOK(t, "AddPortMapping", soapCall{svc: wanip1, action: "AddPortMapping", path: "/soap.cgi?service=WANIPConn1",
		args: addArgs(7000, "TCP", 7000, "127.0.0.1", "q", 0)}.do(t, g))
	mustOK(t, "GetCommonLinkProperties", soapCall{svc: "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
		action: "GetCommonLinkProperties", path: "/soap.cgi?service=WANCommonIFC1"}.do(t, g))
	mustFault(t, "AddPortMapping on the other service", soapCall{svc: wanip1, action: "AddPortMapping",
		path: "/soap.cgi?service=WANCommonIFC1", args: addArgs(7001, "TCP", 7001, "127.0.0.1", "q", 0)}.do(t, g), 401)
	if n := len(g.Mappings()); n != 1 {
		t.Errorf("%d entries", n)
	}
}
