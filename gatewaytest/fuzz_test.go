package gatewaytest

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// fuzzGateway is a Gateway without sockets: the handlers run on their own.
func fuzzGateway(cfg Config) *Gateway {
	cfg = cfg.withDefaults()
	return &Gateway{cfg: cfg, log: slog.New(slog.DiscardHandler), st: newState(cfg, nil), model: newModel(cfg), done: make(chan struct{})}
}

var fuzzFrom = netip.MustParseAddrPort("127.0.0.1:40000")

func FuzzNATPMPRequest(f *testing.F) {
	g := fuzzGateway(Config{MaxMappings: 64})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		reply := g.handleNATPMP(pkt, fuzzFrom)
		if reply == nil {
			return
		}
		switch len(reply) {
		case 8, 12, 16:
		default:
			t.Fatalf("reply of %d bytes to % x", len(reply), pkt)
		}
		if reply[0] != 0 || reply[1] != 128+pkt[1] {
			t.Fatalf("reply header % x to % x", reply[:2], pkt)
		}
		if len(reply) == 16 && reply[8] != pkt[4] || len(reply) == 16 && reply[9] != pkt[5] {
			t.Fatalf("internal port not echoed: % x to % x", reply, pkt)
		}
		if n := len(g.Mappings()); n > 64 {
			t.Fatalf("table grew past MaxMappings: %d", n)
		}
	})
}

func FuzzPCPRequest(f *testing.F) {
	g := fuzzGateway(Config{MaxMappings: 64, AllowThirdParty: true})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		// Make the client-IP field match the source often enough to get
		// past ADDRESS_MISMATCH.
		if len(pkt) >= 24 && pkt[8] == 0xff {
			a := fuzzFrom.Addr().As16()
			copy(pkt[8:24], a[:])
		}
		reply := g.handlePCP(pkt, fuzzFrom)
		if reply == nil {
			return
		}
		if len(reply) < 24 || len(reply) > 1100 || len(reply)%4 != 0 {
			t.Fatalf("reply of %d bytes to % x", len(reply), pkt)
		}
		if reply[0] != 2 || reply[1] != 0x80|pkt[1]&0x7f {
			t.Fatalf("reply header % x to % x", reply[:4], pkt)
		}
		if reply[3] == PCPSuccess && pkt[1]&0x7f != 0 {
			r, code, drop := parsePCP(pkt)
			if drop || code != 0 {
				t.Fatalf("success for a request the parser rejects (code %d)", code)
			}
			if [12]byte(reply[24:36]) != r.nonce {
				t.Fatalf("success reply with another nonce")
			}
		}
	})
}

func FuzzMSearch(f *testing.F) {
	m := newModel(Config{}.withDefaults())
	f.Fuzz(func(t *testing.T, pkt []byte) {
		st, ok := parseMSearch(pkt)
		if !ok {
			return
		}
		if st == "" {
			t.Fatal("accepted a search without ST")
		}
		for _, a := range m.answers(st) {
			if a.st == "" || a.usn == "" {
				t.Fatalf("empty answer for ST %q", st)
			}
			_ = ssdpResponse(a, "http://127.0.0.1:1/rootDesc.xml", 1, 1)
		}
	})
}

func FuzzSOAPBody(f *testing.F) {
	g := fuzzGateway(Config{MaxMappings: 64})
	caller := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseSOAP(body)
		if err != nil {
			return
		}
		if req.action == "" || len(req.args) > maxSOAPArgs {
			t.Fatalf("parsed %+v", req)
		}
		// Whatever the arguments, an action answers or fails with a code.
		conn, _ := g.model.conn()
		out, code := g.runAction(conn, req, caller)
		if code == 0 {
			for _, a := range out {
				if a.name == "" {
					t.Fatal("unnamed output argument")
				}
			}
		} else if upnpErrors[code] == "" {
			t.Fatalf("undocumented error code %d", code)
		}
	})
}

// FuzzCapturedDescription: whatever a capture holds, parsing it, building
// the replay model and rewriting its URLs never panics, and every served
// path is absolute.
func FuzzCapturedDescription(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := parseCapturedDescription(b)
		if err != nil {
			return
		}
		r := &replay{desc: b, tree: tree}
		m := r.model()
		for _, s := range m.services {
			if !strings.HasPrefix(s.control, "/") {
				t.Fatalf("control path %q", s.control)
			}
		}
		_ = r.igdVersion()
		if out := r.description("127.0.0.1:1"); len(out) > len(b)+len(b)/2+64*strings.Count(string(b), "://") {
			t.Fatalf("rewrite grew %d bytes to %d", len(b), len(out))
		}
	})
}

// FuzzPCP6Request feeds the IPv6 PCP socket's handler (handlePCP6: a
// request from [::1] taken as one from Config.IPv6Host). A MAP it grants
// with a lifetime is a pinhole: the assigned address is the host's own
// and the port its internal port, for nothing is translated.
func FuzzPCP6Request(f *testing.F) {
	g := fuzzGateway(Config{IPv6: true, MaxMappings: 64})
	from := netip.MustParseAddrPort("[::1]:40000")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		// Put ::1 in the client field often enough to get past
		// ADDRESS_MISMATCH.
		if len(pkt) >= 24 && pkt[8] == 0xff {
			a := from.Addr().As16()
			copy(pkt[8:24], a[:])
		}
		reply, method := g.handlePCP6(pkt, from)
		if reply == nil {
			return
		}
		if method != PCP {
			t.Fatalf("answered as %q", method)
		}
		if len(reply) < 24 || len(reply) > 1100 || len(reply)%4 != 0 {
			t.Fatalf("reply of %d bytes to % x", len(reply), pkt)
		}
		if reply[0] != 2 || reply[1] != 0x80|pkt[1]&0x7f {
			t.Fatalf("reply header % x to % x", reply[:4], pkt)
		}
		if reply[3] != PCPSuccess || pkt[1]&0x7f != 1 || binary.BigEndian.Uint32(reply[4:8]) == 0 {
			return
		}
		r, code, drop := parsePCP(pkt)
		if drop || code != 0 {
			t.Fatalf("success for a request the parser rejects (code %d)", code)
		}
		if len(reply) < 60 {
			t.Fatalf("MAP success of %d bytes", len(reply))
		}
		ext := netip.AddrPortFrom(addr16(reply[44:60]), binary.BigEndian.Uint16(reply[42:44]))
		if want := netip.AddrPortFrom(g.cfg.IPv6Host, r.internalPort); ext != want {
			t.Fatalf("pinhole granted as %v; want %v (the host's own address and port)", ext, want)
		}
	})
}
