//go:build linux

package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// routerConfig is one miniupnpd configuration of TestRouterConfigs and what
// a user of upnpmap sees on a router set up that way.
type routerConfig struct {
	name string
	opts netlab.Options
	// methods is what Discover reports, in the front door's order.
	methods []string
	// ownMethod is the method Map picks for this host's own mapping when
	// every method answers in time (another enabled one may serve when the
	// best is late on a busy machine).
	ownMethod string
	// otherMethod is the method that maps for the other LAN host; empty
	// means the router refuses, and Map's error matches otherIs.
	otherMethod string
	otherIs     string
	// service is the WANIPConnection version the router offers and
	// upnpmap's SOAP requests must name (its log shows each SOAPAction);
	// 0 means UPnP is off and no SOAP request may reach it.
	service int
}

// routerConfigs are the six configurations of issue 17: miniupnpd's
// defaults in the lab (secure mode, IGD:2, NAT-PMP and PCP on) and one
// change each.
var routerConfigs = []routerConfig{
	{name: "default", methods: []string{"pcp", "natpmp", "upnp"}, ownMethod: "pcp",
		otherIs: "NotAuthorized", service: 2}, // PCP: UNSUPP_OPTION (THIRD_PARTY); UPnP: 718 (secure mode)
	{name: "secure-mode-off", opts: netlab.Options{InsecureMode: true},
		methods: []string{"pcp", "natpmp", "upnp"}, ownMethod: "pcp", otherMethod: "upnp", service: 2},
	{name: "igd1-only", opts: netlab.Options{IGDv1: true},
		methods: []string{"pcp", "natpmp", "upnp"}, ownMethod: "pcp", otherIs: "NotAuthorized", service: 1},
	{name: "pcp-third-party", opts: netlab.Options{PCPAllowThirdParty: true},
		methods: []string{"pcp", "natpmp", "upnp"}, ownMethod: "pcp", otherMethod: "pcp", service: 2},
	{name: "natpmp-pcp-off", opts: netlab.Options{DisableNATPMP: true},
		methods: []string{"upnp"}, ownMethod: "upnp", otherIs: "NotAuthorized", service: 2},
	// PCP answers UNSUPP_OPTION (no THIRD_PARTY) and NAT-PMP cannot name
	// another host: the router cannot do it (ErrUnsupported).
	{name: "upnp-off", opts: netlab.Options{DisableUPnP: true},
		methods: []string{"pcp", "natpmp"}, ownMethod: "pcp", otherIs: "Unsupported"},
}

// TestRouterConfigs takes the front door through discover, a mapping for
// this host, one for the other LAN host, list and delete, on miniupnpd in
// each of six configurations (one lab each, in parallel), and checks what
// a user would: which methods answer; that this host's mapping is made by
// the best method and reachable from the WAN; that the mapping for another
// host is made (by the method that can) or refused with ErrNotAuthorized and
// nothing opened; that List shows what was made; and that Close removes it
// from the router. The router's table is read independently, from its
// firewall rules (netlab's Lab.Forwards), never through the client under
// test.
func TestRouterConfigs(t *testing.T) {
	t.Parallel()
	for _, rc := range routerConfigs {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			testRouterConfig(t, rc)
		})
	}
}

func testRouterConfig(t *testing.T, rc routerConfig) {
	ctx := testContext(t, 60*time.Second)
	lab := newLab(t, ctx, rc.opts)
	const ownPort, otherPort = 23000, 23001
	lan1, lan2 := lab.Addr(netlab.LAN1), lab.Addr(netlab.LAN2)
	own := netip.AddrPortFrom(lan1, ownPort)
	other := netip.AddrPortFrom(lan2, otherPort)
	startEcho(t, lab, netlab.LAN1, "tcp", own.String())
	startEcho(t, lab, netlab.LAN2, "tcp", other.String())
	// Which methods answer: each asked alone (a Client with one method),
	// all at once, with the lab's probe budget (labProbeTimeout); an enabled
	// method must answer and a disabled one must not.
	var alone []*proc
	for _, method := range allMethods {
		alone = append(alone, startClient(t, ctx, lab, netlab.LAN1, rc.name+"-"+method, "discover",
			"-methods", method))
	}
	for i, method := range allMethods {
		d := alone[i].next(labProbeTimeout+5*time.Second, "Discover by "+method, isType("discover", "error"))
		if answered := d.Type == "discover"; answered != slices.Contains(rc.methods, method) {
			t.Errorf("Discover by %s alone: %+v; want an answer = %v", method, d, !answered)
		}
	}

	// The front door's Discover, all methods at once, returns soon after
	// the first answer: those that answered, in the order Map prefers them,
	// and the external address. (A method later than the grace is left out
	// by design; on a busy machine that can be UPnP, so this checks order
	// and membership, and the answers above check each method.)
	s := startClient(t, ctx, lab, netlab.LAN1, rc.name, "session")
	d := s.ask("discover")
	if d.Type != "discover" {
		t.Fatalf("Discover: %s (matches %v)", d.Err, d.Is)
	}
	t.Logf("Discover in %v: methods %v, external %s, device %q", d.Elapsed.Round(time.Millisecond), d.Methods, d.ExternalAddr, d.Device)
	if !inOrder(d.Methods, rc.methods) {
		t.Errorf("Discover: methods %v; want those of %v that answered, in that order", d.Methods, rc.methods)
	}
	// PCP has no request for the address; NAT-PMP and UPnP report it.
	if (slices.Contains(d.Methods, "natpmp") || slices.Contains(d.Methods, "upnp")) && d.ExternalAddr != lab.ExternalAddr().String() {
		t.Errorf("Discover: external address %s; want %v", d.ExternalAddr, lab.ExternalAddr())
	}

	// This host's own mapping.
	m := s.ask(fmt.Sprintf("map own port=%d ext=%d desc=labtest-own", ownPort, ownPort))
	if m.Type != "mapped" {
		t.Fatalf("Map for this host: %s (matches %v)", m.Err, m.Is)
	}
	ownExt := extAddr(lab, ownPort)
	if !slices.Contains(rc.methods, m.Method) || m.External != ownExt.String() || m.Internal != own.String() {
		t.Fatalf("Map for this host: %s %s -> %s; want %v -> %v by one of %v", m.Method, m.External, m.Internal, ownExt, own, rc.methods)
	}
	if m.Method != rc.ownMethod {
		// Map takes the best method its probe heard in time; on a busy
		// machine the best one can be late and a later one serves.
		t.Logf("Map for this host used %s, not %s (late in the probe)", m.Method, rc.ownMethod)
	}
	wantReachable(t, ctx, lab, "tcp", ownExt, netlab.LAN1)
	wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: ownPort, Internal: own}, true)

	// A mapping for the other LAN host.
	otherExt := extAddr(lab, otherPort)
	m = s.ask(fmt.Sprintf("map other port=%d host=%v ext=%d desc=labtest-other", otherPort, lan2, otherPort))
	otherMapped := m.Type == "mapped"
	switch {
	case rc.otherMethod == "" && otherMapped:
		t.Fatalf("Map for %v succeeded by %s (%s); want a refusal", lan2, m.Method, m.External)
	case rc.otherMethod == "":
		t.Logf("Map for %v refused: %s", lan2, m.Err)
		if !slices.Contains(m.Is, rc.otherIs) {
			t.Errorf("Map for %v: %s matches %v; want Err%s", lan2, m.Err, m.Is, rc.otherIs)
		}
		if slices.Contains(m.Is, "Timeout") {
			t.Errorf("Map for %v: a definite refusal reported as a timeout: %s (matches %v)", lan2, m.Err, m.Is)
		}
		wantClosed(t, ctx, lab, "tcp", otherExt)
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: otherPort, Internal: other}, false)
	case !otherMapped:
		t.Fatalf("Map for %v: %s (matches %v); want a mapping by %s", lan2, m.Err, m.Is, rc.otherMethod)
	default:
		if m.Method != rc.otherMethod || m.External != otherExt.String() || m.Internal != other.String() {
			t.Fatalf("Map for %v: %s %s -> %s; want %s %v -> %v", lan2, m.Method, m.External, m.Internal, rc.otherMethod, otherExt, other)
		}
		wantReachable(t, ctx, lab, "tcp", otherExt, netlab.LAN2)
		wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: otherPort, Internal: other}, true)
	}

	// List shows what was made, marked as ours.
	l := s.ask("list")
	if l.Type != "list" {
		t.Fatalf("List: %s (matches %v)", l.Err, l.Is)
	}
	t.Logf("List: %+v", l.Entries)
	if !listed(l.Entries, "tcp", ownExt, own) {
		t.Errorf("List lacks our mapping %v -> %v: %+v", ownExt, own, l.Entries)
	}
	if listed(l.Entries, "tcp", otherExt, other) != otherMapped {
		t.Errorf("List: mapping %v -> %v listed = %v; want %v: %+v", otherExt, other, !otherMapped, otherMapped, l.Entries)
	}

	// Delete: Close removes each from the router's table.
	for _, id := range []string{"own", "other"} {
		if id == "other" && !otherMapped {
			continue
		}
		if c := s.ask("close " + id); c.Type != "closed" || c.Err != "" {
			t.Fatalf("Close %s: %+v", id, c)
		}
	}
	wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: ownPort, Internal: own}, false)
	wantForward(t, ctx, lab, netlab.Forward{Protocol: "tcp", ExternalPort: otherPort, Internal: other}, false)
	wantClosed(t, ctx, lab, "tcp", ownExt)
	wantClosed(t, ctx, lab, "tcp", otherExt)
	if l := s.ask("list"); l.Type != "list" || listedPort(l.Entries, ownPort) || listedPort(l.Entries, otherPort) {
		t.Errorf("List after Close: %+v; want neither port", l)
	}

	// The UPnP requests went to the service the router offers (IGD:1's
	// WANIPConnection:1 or IGD:2's WANIPConnection:2), and none to the other.
	if rc.service != 0 {
		want := fmt.Sprintf("SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:%d#", rc.service)
		if err := lab.WaitForLog(ctx, want); err != nil {
			t.Error(err)
		}
	}
	log := lab.Log()
	for v := 1; v <= 2; v++ {
		action := fmt.Sprintf("SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:%d#", v)
		if strings.Contains(log, action) != (v == rc.service) {
			t.Errorf("router log: %q present = %v; want %v (the router offers WANIPConnection:%d)", action, v != rc.service, v == rc.service, rc.service)
		}
	}
}

// allMethods are the front door's methods in its order of preference.
var allMethods = []string{"pcp", "natpmp", "upnp"}

// inOrder reports whether got is a non-empty subsequence of want.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return len(got) > 0
}

// wantForward checks the router's firewall for f (present or absent).
func wantForward(t *testing.T, ctx context.Context, lab *netlab.Lab, f netlab.Forward, present bool) {
	t.Helper()
	fw, err := lab.Forwards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(fw, f) != present {
		t.Fatalf("router's forwards %v: %v present = %v; want %v", fw, f, !present, present)
	}
}

// listed reports whether entries hold a mapping of proto from ext to
// internal. The external address may be missing (a UPnP entry names only
// the port).
func listed(entries []entryMsg, proto string, ext, internal netip.AddrPort) bool {
	for _, e := range entries {
		if e.Protocol != proto || e.Internal != internal.String() {
			continue
		}
		if e.External == ext.String() {
			return true
		}
		if ap, err := netip.ParseAddrPort(e.External); err == nil && ap.Port() == ext.Port() && !ap.Addr().IsValid() {
			return true
		}
	}
	return false
}

// listedPort reports whether any entry has external port port.
func listedPort(entries []entryMsg, port uint16) bool {
	for _, e := range entries {
		if ap, err := netip.ParseAddrPort(e.External); err == nil && ap.Port() == port {
			return true
		}
	}
	return false
}
