package discovery

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseResponseTypical(t *testing.T) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	b := okAnswer("http://192.168.1.1:5000/rootDesc.xml", TargetIGD1, "uuid:abc::"+TargetIGD1)
	r, err := ParseResponse(b, from)
	if err != nil {
		t.Fatal(err)
	}
	if r.From != from || r.ST != TargetIGD1 || r.USN != "uuid:abc::"+TargetIGD1 {
		t.Errorf("got %+v", r)
	}
	if got := r.Location.String(); got != "http://192.168.1.1:5000/rootDesc.xml" {
		t.Errorf("Location = %s", got)
	}
	if r.MaxAge != 120*time.Second {
		t.Errorf("MaxAge = %v", r.MaxAge)
	}
	if !strings.Contains(r.Server, "MiniUPnPd") {
		t.Errorf("Server = %q", r.Server)
	}
}

func TestParseResponseLenient(t *testing.T) {
	from := netip.MustParseAddrPort("10.0.0.138:50000") // any source port
	cases := map[string]string{
		"bare LF":             "HTTP/1.1 200 OK\nST: upnp:rootdevice\nLOCATION: http://10.0.0.138/d.xml\n\n",
		"lower-case names":    "HTTP/1.1 200 OK\r\nst: upnp:rootdevice\r\nlocation: http://10.0.0.138/d.xml\r\n\r\n",
		"no final blank line": "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://10.0.0.138/d.xml\r\n",
		"HTTP/1.0, no reason": "HTTP/1.0 200\r\nST: upnp:rootdevice\r\nLocation:http://10.0.0.138/d.xml\r\n\r\n",
		"odd cache-control":   "HTTP/1.1 200 OK\r\nCache-Control: no-cache=\"Ext\", max-age = 1800\r\nST: upnp:rootdevice\r\nLOCATION: http://10.0.0.138/d.xml\r\n\r\n",
		"body after headers":  "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://10.0.0.138/d.xml\r\n\r\nignored",
	}
	for name, msg := range cases {
		r, err := ParseResponse([]byte(msg), from)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.ST != "upnp:rootdevice" || r.Location.String() != "http://10.0.0.138/d.xml" {
			t.Errorf("%s: got ST %q Location %s", name, r.ST, r.Location)
		}
	}
	r, _ := ParseResponse([]byte(cases["odd cache-control"]), from)
	if r.MaxAge != 1800*time.Second {
		t.Errorf("MaxAge = %v, want 30m", r.MaxAge)
	}
}

func TestParseResponseRejects(t *testing.T) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	loc := "LOCATION: http://192.168.1.1/d.xml\r\n"
	st := "ST: upnp:rootdevice\r\n"
	cases := map[string]string{
		"empty":            "",
		"request":          "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n" + st + "\r\n",
		"notify":           "NOTIFY * HTTP/1.1\r\n" + st + loc + "\r\n",
		"status 404":       "HTTP/1.1 404 Not Found\r\n" + st + loc + "\r\n",
		"no location":      "HTTP/1.1 200 OK\r\n" + st + "\r\n",
		"no ST":            "HTTP/1.1 200 OK\r\n" + loc + "\r\n",
		"empty location":   "HTTP/1.1 200 OK\r\n" + st + "LOCATION: \r\n\r\n",
		"two locations":    "HTTP/1.1 200 OK\r\n" + st + loc + "LOCATION: http://10.9.9.9/x\r\n\r\n",
		"two STs":          "HTTP/1.1 200 OK\r\n" + st + st + loc + "\r\n",
		"no colon":         "HTTP/1.1 200 OK\r\n" + st + loc + "garbage line\r\n\r\n",
		"folded header":    "HTTP/1.1 200 OK\r\n" + st + loc + " folded\r\n\r\n",
		"NUL in value":     "HTTP/1.1 200 OK\r\nST: upnp:\x00root\r\n" + loc + "\r\n",
		"bad name":         "HTTP/1.1 200 OK\r\n" + st + loc + "X Y: z\r\n\r\n",
		"no header end":    "HTTP/1.1 200 OK\r\n" + st + "LOCATION: http://192.168.1.1/d.xml",
		"https location":   "HTTP/1.1 200 OK\r\n" + st + "LOCATION: https://192.168.1.1/d.xml\r\n\r\n",
		"file location":    "HTTP/1.1 200 OK\r\n" + st + "LOCATION: file:///etc/passwd\r\n\r\n",
		"relative":         "HTTP/1.1 200 OK\r\n" + st + "LOCATION: /d.xml\r\n\r\n",
		"userinfo":         "HTTP/1.1 200 OK\r\n" + st + "LOCATION: http://u:p@192.168.1.1/d.xml\r\n\r\n",
		"bad port":         "HTTP/1.1 200 OK\r\n" + st + "LOCATION: http://192.168.1.1:99999/d.xml\r\n\r\n",
		"port zero":        "HTTP/1.1 200 OK\r\n" + st + "LOCATION: http://192.168.1.1:0/d.xml\r\n\r\n",
		"too many headers": "HTTP/1.1 200 OK\r\n" + st + loc + strings.Repeat("X-A: b\r\n", 70) + "\r\n",
	}
	for name, msg := range cases {
		if r, err := ParseResponse([]byte(msg), from); err == nil {
			t.Errorf("%s: accepted: %+v", name, r)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v does not wrap ErrMalformed", name, err)
		}
	}
	big := append(okAnswer("http://192.168.1.1/d.xml", "upnp:rootdevice", "uuid:x"), make([]byte, MaxDatagramSize)...)
	if _, err := ParseResponse(big, from); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized datagram: %v, want ErrTooLarge", err)
	}
	for _, bad := range []string{"0.0.0.0:1900", "239.255.255.250:1900", "[::]:1900"} {
		msg := okAnswer("http://192.168.1.1/d.xml", "upnp:rootdevice", "uuid:x")
		if _, err := ParseResponse(msg, netip.MustParseAddrPort(bad)); err == nil {
			t.Errorf("responder %s accepted", bad)
		}
	}
}

// The LOCATION host is always replaced by the responder's address; the port
// and path stay. This is the SSRF guard and also the repair for devices that
// announce the wrong host.
func TestParseResponseLocationPinnedToResponder(t *testing.T) {
	cases := []struct{ from, location, want string }{
		{"192.168.1.1:1900", "http://127.0.0.1:8080/admin", "http://192.168.1.1:8080/admin"},
		{"192.168.1.1:1900", "http://[::1]:1900/rootDesc.xml", "http://192.168.1.1:1900/rootDesc.xml"},
		{"192.168.1.1:1900", "http://169.254.169.254/latest/meta-data/", "http://192.168.1.1/latest/meta-data/"},
		{"192.168.1.1:1900", "http://router.example:49152/d.xml?x=1#frag", "http://192.168.1.1:49152/d.xml?x=1"},
		{"192.168.1.1:1900", "http://192.168.1.254:5000/d.xml", "http://192.168.1.1:5000/d.xml"},
		{"[::ffff:192.168.1.1]:1900", "http://192.168.1.1:5000/d.xml", "http://192.168.1.1:5000/d.xml"},
		{"[2001:db8::1]:1900", "http://[2001:db8::99]:5000/d.xml", "http://[2001:db8::1]:5000/d.xml"},
		{"[2001:db8::1]:1900", "http://192.168.1.1/d.xml", "http://[2001:db8::1]/d.xml"},
		// A link-local responder keeps its zone, so the URL can be dialled.
		{"[fe80::1%eth0]:1900", "http://[fe80::1]:5000/d.xml", "http://[fe80::1%25eth0]:5000/d.xml"},
		{"127.0.0.2:1900", "http://127.0.0.1:5000/d.xml", "http://127.0.0.2:5000/d.xml"},
	}
	for _, c := range cases {
		from := netip.MustParseAddrPort(c.from)
		r, err := ParseResponse(okAnswer(c.location, "upnp:rootdevice", "uuid:x"), from)
		if err != nil {
			t.Errorf("%s from %s: %v", c.location, c.from, err)
			continue
		}
		if got := r.Location.String(); got != c.want {
			t.Errorf("%s from %s: Location %s, want %s", c.location, c.from, got, c.want)
		}
		if r.OriginalLocation != c.location {
			t.Errorf("OriginalLocation = %q", r.OriginalLocation)
		}
		if h := r.Location.Hostname(); h != from.Addr().Unmap().String() {
			t.Errorf("host %q is not the responder %s", h, from.Addr())
		}
	}
}

func TestBuildSearch(t *testing.T) {
	got := string(buildSearch("239.255.255.250:1900", TargetIGD1, 2))
	want := "M-SEARCH * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		"MX: 2\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
		"\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if h := hostHeader(netip.MustParseAddrPort("[ff02::c%eth0]:1900")); h != "[ff02::c]:1900" {
		t.Errorf("IPv6 HOST = %q", h)
	}
	for _, bad := range []string{"", "a b", "x\r\nHOST: evil", strings.Repeat("a", 300), "caf\xc3\xa9"} {
		if validTarget(bad) {
			t.Errorf("target %q accepted", bad)
		}
	}
}
