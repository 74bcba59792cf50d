package gatewaytest

import (
	"net/netip"
	"testing"
)

// The Config knobs that make the fake answer as miniupnpd 2.3.1 does where it
// departs from the specifications; each test checks the spec's answer by
// default and miniupnpd's with the knob (individually and through the
// Miniupnpd preset).

func TestSecureModeConflictUnderIGD2(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"spec", Config{SecureMode: true}, 606},
		{"knob", Config{SecureMode: true, SecureModeConflict: true}, 718},
		{"preset", Config{SecureMode: true, Miniupnpd: true}, 718},
		{"IGD:1 either way", Config{SecureMode: true, IGDVersion: 1}, 718},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(t, tc.cfg)
			svc := wanip2
			if tc.cfg.IGDVersion == 1 {
				svc = wanip1
			}
			r := soapCall{svc: svc, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "192.168.1.9", "x", 3600)}.do(t, g)
			mustFault(t, "AddPortMapping for another host", r, tc.want)
			if n := len(g.Mappings()); n != 0 {
				t.Errorf("%d entries after a refusal", n)
			}
			// The caller's own mapping still works.
			mustOK(t, "AddPortMapping for the caller", soapCall{svc: svc, action: "AddPortMapping",
				args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 3600)}.do(t, g))
		})
	}
}

func TestDeleteMissingSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"spec", Config{}, 714},
		{"knob", Config{DeleteMissingSucceeds: true}, 0},
		{"preset", Config{Miniupnpd: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(t, tc.cfg)
			g.AddMapping(Mapping{ExternalPort: 7001, InternalAddr: netip.MustParseAddr("127.0.0.1")})
			r := soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(7000, "TCP")}.do(t, g)
			if tc.want == 0 {
				mustOK(t, "DeletePortMapping of nothing", r)
			} else {
				mustFault(t, "DeletePortMapping of nothing", r, tc.want)
			}
			if n := len(g.Mappings()); n != 1 {
				t.Errorf("the other entry is gone: %d entries", n)
			}
			// An existing entry is still deleted.
			mustOK(t, "DeletePortMapping", soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(7001, "TCP")}.do(t, g))
			if n := len(g.Mappings()); n != 0 {
				t.Errorf("%d entries after the delete", n)
			}
		})
	}
}

func TestRejectLowerCaseProtocol(t *testing.T) {
	lenient := New(t, Config{})
	mustOK(t, "lower-case add", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "tcp", 7000, "127.0.0.1", "x", 3600)}.do(t, lenient))
	if m := only(t, lenient); m.Protocol != "TCP" {
		t.Errorf("protocol stored as %q", m.Protocol)
	}
	mustOK(t, "lower-case lookup", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(7000, "tcp")}.do(t, lenient))

	strict := New(t, Config{RejectLowerCaseProtocol: true})
	for _, p := range []string{"tcp", "Udp"} {
		mustFault(t, "strict add "+p, soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, p, 7000, "127.0.0.1", "x", 3600)}.do(t, strict), 402)
	}
	mustFault(t, "strict lookup", soapCall{svc: wanip2, action: "GetSpecificPortMappingEntry", args: keyArgs(7000, "tcp")}.do(t, strict), 402)
	mustOK(t, "strict add TCP", soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 3600)}.do(t, strict))
	mustOK(t, "strict delete TCP", soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(7000, "TCP")}.do(t, strict))
}

// pcpFrom127 is a PCP MAP from 127.0.0.1 (the client address field must
// match the source, §8.2).
func pcpFrom127(t *testing.T, g *Gateway) *udpClient {
	return dialFrom(t, netip.MustParseAddr("127.0.0.1"), g.PCPAddr())
}

func TestPCPDeleteMissingNoResources(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want byte
		life uint32
	}{
		{"spec", Config{}, PCPSuccess, 0},
		{"knob", Config{PCPDeleteMissingNoResources: true}, PCPNoResources, 30},
		{"preset", Config{Miniupnpd: true}, PCPNoResources, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(t, tc.cfg)
			c := pcpFrom127(t, g)
			req := pcpReq{opcode: 1, client: netip.MustParseAddr("::ffff:127.0.0.1"), nonce: nonce(3), proto: 6, internal: 5000}
			r := parsePCPResp(t, c.roundTrip(req.bytes()))
			if r.result != tc.want || r.lifetime != tc.life {
				t.Fatalf("delete of nothing: result %d lifetime %d, want %d and %d", r.result, r.lifetime, tc.want, tc.life)
			}
			// A delete of an existing mapping succeeds either way.
			req.lifetime = 600
			if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPSuccess {
				t.Fatalf("map: result %d", r.result)
			}
			req.lifetime = 0
			if r := parsePCPResp(t, c.roundTrip(req.bytes())); r.result != PCPSuccess || len(g.Mappings()) != 0 {
				t.Fatalf("delete: result %d, table %+v", r.result, g.Mappings())
			}
		})
	}
}

func TestIgnorePreferFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		ignore bool
	}{
		{"spec", Config{}, false},
		{"knob", Config{IgnorePreferFailure: true}, true},
		{"preset", Config{Miniupnpd: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(t, tc.cfg)
			g.AddMapping(Mapping{ExternalPort: 5000}) // another host holds 5000
			c := pcpFrom127(t, g)
			req := pcpReq{opcode: 1, lifetime: 600, client: netip.MustParseAddr("::ffff:127.0.0.1"), nonce: nonce(4),
				proto: 6, internal: 5000, extPort: 5000, options: pcpOption(2, nil)}
			r := parsePCPResp(t, c.roundTrip(req.bytes()))
			switch {
			case !tc.ignore && r.result != PCPCannotProvideExternal:
				t.Fatalf("PREFER_FAILURE for a taken port: result %d, want CANNOT_PROVIDE_EXTERNAL", r.result)
			case tc.ignore && (r.result != PCPSuccess || r.extPort == 5000 || r.extPort == 0):
				t.Fatalf("ignored PREFER_FAILURE: result %d port %d, want SUCCESS with another port", r.result, r.extPort)
			}
			want := 1
			if tc.ignore {
				want = 2
			}
			if n := len(g.Mappings()); n != want {
				t.Errorf("%d entries, want %d", n, want)
			}
		})
	}
}
