//go:build linux

package labtest

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestMiniupnpdQuirks pins what miniupnpd 2.3.1 really does where it parts
// from the specifications (and from gatewaytest's defaults), each with the
// daemon's own answer to a hand-written request or a stock client, and what
// a user of upnpmap sees there:
//
//   - secure mode under IGD:2 refuses a mapping for another host with 718
//     ConflictInMappingEntry, not 606: upnpmap says ErrNotAuthorized, not
//     "port in use";
//   - a PCP delete of a mapping it does not have answers NO_RESOURCES, not
//     SUCCESS: upnpmap's Delete says ErrNoSuchEntry, and Close of a mapping
//     the router dropped already succeeds;
//   - PCP PREFER_FAILURE is ignored (another port is granted): with
//     Request.ExactPort upnpmap fails with ErrPortInUse and leaves nothing
//     mapped;
//   - a UPnP delete of an unknown entry succeeds: upnpmap's Delete does not
//     turn that into a failure;
//   - a lower-case protocol is accepted: upnpmap sends upper case anyway
//     (some routers refuse lower case), as the daemon's log shows.
func TestMiniupnpdQuirks(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, netlab.Options{}, "upnpc")
	lan1, lan2 := lab.Addr(netlab.LAN1), lab.Addr(netlab.LAN2)

	t.Run("secure mode answers 718", func(t *testing.T) {
		t.Parallel()
		code, body := mustSOAP(t, lab, "AddPortMapping", addArgs(24100, "TCP", netip.AddrPortFrom(lan2, 24100)))
		if code != 500 || soapErrorCode(body) != "718" {
			t.Fatalf("AddPortMapping for another host: HTTP %d, UPnP error %q; want 500 and 718 (miniupnpd's answer in secure mode)", code, soapErrorCode(body))
		}
		s := startClient(t, ctx, lab, netlab.LAN1, "upnp", "session", "-methods", "upnp")
		m := s.ask(fmt.Sprintf("map other port=24101 host=%v", lan2))
		if m.Type != "error" || !slices.Contains(m.Is, "NotAuthorized") || slices.Contains(m.Is, "PortInUse") {
			t.Fatalf("Map for another host: %+v; want ErrNotAuthorized, not ErrPortInUse", m)
		}
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: 24101, Internal: netip.AddrPortFrom(lan2, 24101)}, false)
	})

	t.Run("PCP delete of nothing answers NO_RESOURCES", func(t *testing.T) {
		t.Parallel()
		s := startClient(t, ctx, lab, netlab.LAN1, "pcp", "session", "-methods", "pcp")
		if m := s.ask("map a port=24200 ext=24200"); m.Type != "mapped" {
			t.Fatalf("Map: %+v", m)
		}
		if m := s.ask("close a"); m.Err != "" {
			t.Fatalf("Close: %s", m.Err)
		}
		m := s.ask("delete a") // the same delete again: the router has nothing
		if !strings.Contains(m.Err, "NO_RESOURCES") {
			t.Errorf("PCP delete of nothing: %q; want miniupnpd's NO_RESOURCES", m.Err)
		}
		if !slices.Contains(m.Is, "NoSuchEntry") {
			t.Errorf("Delete of a mapping the router does not have: %q matches %v; want ErrNoSuchEntry", m.Err, m.Is)
		}

		// A mapping the router dropped behind upnpmap's back (here by a UPnP
		// delete, which also removes PCP mappings): Close succeeds.
		if m := s.ask("map b port=24201 ext=24201"); m.Type != "mapped" {
			t.Fatalf("Map: %+v", m)
		}
		if code, body := mustSOAP(t, lab, "DeletePortMapping", delArgs(24201, "TCP")); code != 200 {
			t.Fatalf("UPnP delete of the PCP mapping: HTTP %d: %s", code, body)
		}
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: 24201, Internal: netip.AddrPortFrom(lan1, 24201)}, false)
		if m := s.ask("close b"); m.Type != "closed" || m.Err != "" {
			t.Fatalf("Close of a mapping the router dropped: %+v; want success", m)
		}
	})

	t.Run("PREFER_FAILURE ignored", func(t *testing.T) {
		t.Parallel()
		// lan2 holds external port 24300.
		out, err := lab.Exec(ctx, netlab.LAN2, "upnpc", "-i", "-u", lab.DescURL(), "-e", "held", "-a", lan2.String(), "24300", "24300", "TCP")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "external 1.2.3.4:24300 TCP is redirected to internal "+lan2.String()+":24300") {
			t.Fatalf("upnpc -a on lan2:\n%s", out)
		}
		s := startClient(t, ctx, lab, netlab.LAN1, "pcp", "session", "-methods", "pcp")
		m := s.ask("map exact port=24301 ext=24300 exact=1")
		if m.Type != "error" || !slices.Contains(m.Is, "PortInUse") {
			t.Fatalf("Map with ExactPort of a port another host holds: %+v; want ErrPortInUse", m)
		}
		// The router granted another port (it ignored PREFER_FAILURE), which
		// upnpmap must have given back.
		if !regexp.MustCompile(`offered port \d+ instead of 24300`).MatchString(m.Err) {
			t.Errorf("Map's error %q does not show the router offering another port", m.Err)
		}
		fw, err := lab.Forwards(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fw {
			if f.Internal == netip.AddrPortFrom(lan1, 24301) {
				t.Fatalf("the router still forwards %v, the port upnpmap did not want", f)
			}
		}
		// Without ExactPort the other port is a success.
		startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, 24302))
		m = s.ask("map any port=24302 ext=24300")
		if m.Type != "mapped" || m.External == extAddr(lab, 24300).String() {
			t.Fatalf("Map without ExactPort: %+v; want another external port than 24300", m)
		}
		wantReachable(t, ctx, lab, "tcp", parseAddrPort(t, "External", m.External), netlab.LAN1)
	})

	t.Run("UPnP delete of nothing succeeds", func(t *testing.T) {
		t.Parallel()
		if code, body := mustSOAP(t, lab, "DeletePortMapping", delArgs(24400, "TCP")); code != 200 {
			t.Fatalf("DeletePortMapping of nothing: HTTP %d, UPnP error %q; want 200 (miniupnpd does not answer 714)", code, soapErrorCode(body))
		}
		s := startClient(t, ctx, lab, netlab.LAN1, "upnp", "session", "-methods", "upnp")
		m := s.ask("delete-port method=upnp proto=tcp ext=24400")
		if m.Err != "" && !slices.Contains(m.Is, "NoSuchEntry") {
			t.Fatalf("Delete of nothing: %q (matches %v); want success or ErrNoSuchEntry, not a failure", m.Err, m.Is)
		}
	})

	t.Run("lower-case protocol accepted", func(t *testing.T) {
		t.Parallel()
		in := netip.AddrPortFrom(lan1, 24500)
		if code, body := mustSOAP(t, lab, "AddPortMapping", addArgs(24500, "tcp", in)); code != 200 {
			t.Fatalf("AddPortMapping with protocol \"tcp\": HTTP %d, UPnP error %q; want 200", code, soapErrorCode(body))
		}
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: 24500, Internal: in}, true)
		s := startClient(t, ctx, lab, netlab.LAN1, "upnp", "session", "-methods", "upnp")
		for _, proto := range []string{"tcp", "udp"} {
			if m := s.ask(fmt.Sprintf("map %s proto=%s port=24501 ext=24501", proto, proto)); m.Type != "mapped" {
				t.Fatalf("Map %s: %+v", proto, m)
			}
		}
		for _, proto := range []string{"TCP", "UDP"} {
			want := fmt.Sprintf("AddPortMapping: ext port 24501 to %v:24501 protocol %s ", lan1, proto)
			if err := lab.WaitForLog(testContext(t, 5*time.Second), want); err != nil {
				t.Errorf("the router's log lacks %q (upnpmap must send the protocol in upper case): %v", want, err)
			}
		}
	})
}

// addArgs are AddPortMapping's arguments for a one-hour mapping.
func addArgs(ext uint16, proto string, internal netip.AddrPort) map[string]string {
	return map[string]string{
		"NewRemoteHost": "", "NewExternalPort": fmt.Sprint(ext), "NewProtocol": proto,
		"NewInternalPort": fmt.Sprint(internal.Port()), "NewInternalClient": internal.Addr().String(),
		"NewEnabled": "1", "NewPortMappingDescription": "labtest raw", "NewLeaseDuration": "3600",
	}
}

// delArgs are DeletePortMapping's arguments.
func delArgs(ext uint16, proto string) map[string]string {
	return map[string]string{"NewRemoteHost": "", "NewExternalPort": fmt.Sprint(ext), "NewProtocol": proto}
}

// mustSOAP sends a hand-written SOAP request from lan1 and returns the HTTP
// status and body.
func mustSOAP(t *testing.T, lab *netlab.Lab, action string, args map[string]string) (int, string) {
	t.Helper()
	code, body, err := soapCall(testContext(t, 10*time.Second), lab, netlab.LAN1, action, args)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return code, body
}

var errorCodeRE = regexp.MustCompile(`<errorCode>\s*(\d+)\s*</errorCode>`)

// soapErrorCode is the UPnP errorCode of a SOAP fault body, "" if none.
func soapErrorCode(body string) string {
	if m := errorCodeRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}
