package gatewaytest

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSSDPAnswers(t *testing.T) {
	g := New(t, Config{})
	for _, st := range []string{
		"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
		"urn:schemas-upnp-org:device:InternetGatewayDevice:1", // lower versions are answered, echoing the ST
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"urn:schemas-upnp-org:service:WANIPConnection:1",
		"urn:schemas-upnp-org:device:WANConnectionDevice:1",
		"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
		"upnp:rootdevice",
	} {
		as := ssdpAnswers(t, g, msearch(st), 300*time.Millisecond)
		if len(as) != 1 {
			t.Fatalf("ST %s: %d answers, want 1", st, len(as))
		}
		h := as[0]
		if h["ST"] != st {
			t.Errorf("ST %s answered with ST %q", st, h["ST"])
		}
		if h["LOCATION"] != g.LocationURL() {
			t.Errorf("LOCATION %q, want %q", h["LOCATION"], g.LocationURL())
		}
		if !strings.HasPrefix(h["USN"], "uuid:") || !strings.HasSuffix(h["USN"], "::"+st) {
			t.Errorf("USN %q for ST %s", h["USN"], st)
		}
		if !strings.Contains(h["SERVER"], "UPnP/1.1") || h["CACHE-CONTROL"] != "max-age=120" {
			t.Errorf("headers %v", h)
		}
		if _, ok := h["EXT"]; !ok {
			t.Errorf("no EXT header: %v", h)
		}
	}
}

func TestSSDPNoAnswer(t *testing.T) {
	g := New(t, Config{})
	for name, req := range map[string]string{
		"higher version":       string(msearch("urn:schemas-upnp-org:service:WANIPConnection:3")),
		"PPP on an IP IGD":     string(msearch("urn:schemas-upnp-org:service:WANPPPConnection:1")),
		"unknown type":         string(msearch("urn:schemas-upnp-org:device:MediaServer:1")),
		"unquoted MAN":         "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: ssdp:discover\r\nMX: 1\r\nST: upnp:rootdevice\r\n\r\n",
		"no ST":                "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n",
		"NOTIFY":               "NOTIFY * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: upnp:rootdevice\r\n\r\n",
		"bad MX":               "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: soon\r\nST: upnp:rootdevice\r\n\r\n",
		"header without colon": "M-SEARCH * HTTP/1.1\r\nMAN \"ssdp:discover\"\r\nST: upnp:rootdevice\r\n\r\n",
	} {
		if as := ssdpAnswers(t, g, []byte(req), 150*time.Millisecond); len(as) != 0 {
			t.Errorf("%s: answered %v", name, as)
		}
	}
	if n := g.Requests(SSDP); n != 3 {
		t.Errorf("Requests(SSDP) = %d, want the 3 well-formed searches", n)
	}
}

func TestSSDPAll(t *testing.T) {
	g := New(t, Config{})
	as := ssdpAnswers(t, g, msearch("ssdp:all"), 300*time.Millisecond)
	got := map[string]bool{}
	for _, h := range as {
		got[h["ST"]] = true
	}
	for _, st := range []string{
		"upnp:rootdevice",
		"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
		"urn:schemas-upnp-org:device:WANDevice:2",
		"urn:schemas-upnp-org:device:WANConnectionDevice:2",
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
		"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1",
	} {
		if !got[st] {
			t.Errorf("ssdp:all lacks %s (got %v)", st, got)
		}
	}
	if len(as) != 1+3*2+3 {
		t.Errorf("%d answers, want 10 (root, 3 devices × uuid and type, 3 services)", len(as))
	}
}

func TestSSDPVariants(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		yes, no string
	}{
		{Config{IGDVersion: 1}, "urn:schemas-upnp-org:service:WANIPConnection:1", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"},
		{Config{PPP: true}, "urn:schemas-upnp-org:service:WANPPPConnection:1", "urn:schemas-upnp-org:service:WANIPConnection:1"},
	} {
		g := New(t, tc.cfg)
		if as := ssdpAnswers(t, g, msearch(tc.yes), 300*time.Millisecond); len(as) != 1 {
			t.Errorf("%+v: %s answered %d times", tc.cfg, tc.yes, len(as))
		}
		if as := ssdpAnswers(t, g, msearch(tc.no), 150*time.Millisecond); len(as) != 0 {
			t.Errorf("%+v: %s answered", tc.cfg, tc.no)
		}
	}
}

func TestSSDPLocationHost(t *testing.T) {
	g := New(t, Config{})
	g.SetLocationHost("192.0.2.1")
	h := ssdpAnswers(t, g, msearch("upnp:rootdevice"), 300*time.Millisecond)
	if len(h) != 1 {
		t.Fatalf("%d answers", len(h))
	}
	u, err := url.Parse(h[0]["LOCATION"])
	if err != nil || u.Hostname() != "192.0.2.1" || u.Port() != itoa(int(g.HTTPAddr().Port())) || u.Path != "/rootDesc.xml" {
		t.Fatalf("LOCATION %q", h[0]["LOCATION"])
	}
	g.SetLocationHost("[::1]:1900")
	if h = ssdpAnswers(t, g, msearch("upnp:rootdevice"), 300*time.Millisecond); len(h) != 1 || h[0]["LOCATION"] != "http://[::1]:1900/rootDesc.xml" {
		t.Fatalf("LOCATION with a port: %v", h)
	}
	g.SetLocationHost("")
	if h = ssdpAnswers(t, g, msearch("upnp:rootdevice"), 300*time.Millisecond); len(h) != 1 || h[0]["LOCATION"] != g.LocationURL() {
		t.Fatalf("LOCATION after reset: %v", h)
	}
}
