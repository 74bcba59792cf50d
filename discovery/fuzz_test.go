package discovery

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<Name>/ (real answers, real descriptions, a
// real netlink dump, the quirks the unit tests cover).

func FuzzParseResponse(f *testing.F) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b, from)
		if err != nil {
			if r != nil {
				t.Fatal("response and error")
			}
			return
		}
		// Whatever the device said, the URL points at the responder.
		if r.Location == nil || r.Location.Scheme != "http" || r.Location.Hostname() != "192.168.1.1" {
			t.Fatalf("Location %v escaped the responder", r.Location)
		}
		if r.ST == "" || r.From != from || r.MaxAge < 0 {
			t.Fatalf("bad response %+v", r)
		}
		// The URL round-trips to the same host.
		u, err := url.Parse(r.Location.String())
		if err != nil || u.Hostname() != "192.168.1.1" {
			t.Fatalf("re-parsed Location %v, %v", u, err)
		}
	})
}

func FuzzParseDescription(f *testing.F) {
	loc, _ := url.Parse("http://192.168.1.1:5000/rootDesc.xml")
	responder := netip.MustParseAddr("192.168.1.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := ParseDescription(b, loc, responder)
		if err != nil {
			return
		}
		check := func(u *url.URL) {
			if u != nil && (u.Hostname() != "192.168.1.1" || u.Scheme != "http") {
				t.Fatalf("URL %v escaped the responder", u)
			}
		}
		check(root.Location)
		check(root.URLBase)
		devs := root.Devices()
		if len(devs) > maxDevices {
			t.Fatalf("%d devices", len(devs))
		}
		n := 0
		for _, d := range devs {
			for _, s := range d.Services {
				n++
				check(s.ControlURL)
				check(s.SCPDURL)
				check(s.EventSubURL)
			}
		}
		if n > maxServices {
			t.Fatalf("%d services", n)
		}
		for _, s := range root.Services() {
			if s.ControlURL == nil {
				t.Fatal("Services returned a service without control URL")
			}
		}
	})
}

func FuzzNetlinkRoutes(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		routes, _, _ := parseNetlinkRoutes(b, binary.LittleEndian, nil)
		if len(routes) > len(b) {
			t.Fatalf("%d routes from %d bytes", len(routes), len(b))
		}
		gws, err := chooseDefaults(routes, func(int) string { return "" })
		if err == nil {
			for _, g := range finishGateways(gws) {
				if !usableGateway(g.Addr) {
					t.Fatalf("unusable gateway %v", g.Addr)
				}
			}
		}
	})
}

func FuzzProcRoutes(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r4, _ := parseProcNetRoute(strings.NewReader(s), binary.LittleEndian)
		r6, _ := parseProcIPv6Route(bytes.NewReader([]byte(s)))
		for _, r := range r4 {
			if r.Gw.IsValid() && !r.Gw.Is4() {
				t.Fatalf("IPv4 table gave %v", r.Gw)
			}
		}
		for _, r := range r6 {
			if r.Gw.IsValid() && !r.Gw.Is6() {
				t.Fatalf("IPv6 table gave %v", r.Gw)
			}
		}
	})
}

func FuzzParseNotify(f *testing.F) {
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotify(b, from)
		if err != nil {
			if n != nil {
				t.Fatal("notify and error")
			}
			return
		}
		switch n.NTS {
		case NTSAlive, NTSUpdate:
			if n.Location == nil || n.Location.Scheme != "http" || n.Location.Hostname() != "192.168.1.1" {
				t.Fatalf("Location %v escaped the sender", n.Location)
			}
		case NTSByeBye:
			if n.Location != nil {
				t.Fatalf("byebye with Location %v", n.Location)
			}
		default:
			t.Fatalf("NTS %q accepted", n.NTS)
		}
		if n.NT == "" || n.USN == "" || n.From != from || n.BootID > maxBootID || n.ConfigID > maxBootID || n.NextBootID > maxBootID {
			t.Fatalf("bad notify %+v", n)
		}
	})
}
