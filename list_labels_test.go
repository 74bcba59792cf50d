package upnpmap

import (
	"context"
	"fmt"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestListShowsOwnPCPAndNATPMPMappingOnce: a gateway like miniupnpd lists
// PCP and NAT-PMP mappings in its UPnP table under labels of its own; List
// shows each of the Client's mappings once, as ours, with its method, and
// leaves another Client's labelled entry alone.
func TestListShowsOwnPCPAndNATPMPMappingOnce(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{Miniupnpd: true})
	ctx := context.Background()
	viaPCP, err := c.Map(ctx, Request{InternalPort: 4700})
	if err != nil {
		t.Fatal(err)
	}
	defer viaPCP.Close()
	if viaPCP.Method() != PCP {
		t.Fatalf("first choice %v", viaPCP.Method())
	}
	c2 := &Client{Gateway: c.Gateway, AnnounceAddr: c.AnnounceAddr, Methods: []Method{NATPMP, UPnP},
		ProbeTimeout: testProbeTimeout, settleAfter: c.settleAfter}
	viaPMP, err := c2.Map(ctx, Request{InternalPort: 4701, Protocol: UDP})
	if err != nil {
		t.Fatal(err)
	}
	defer viaPMP.Close()
	if viaPMP.Method() != NATPMP {
		t.Fatalf("second client mapped via %v", viaPMP.Method())
	}
	pcpPort, pmpPort := viaPCP.External().Port(), viaPMP.External().Port()
	// The router does label them (else this test proves nothing).
	if e, ok := entry(gw, "TCP", pcpPort); !ok || e.Description != fmt.Sprintf("PCP MAP %x", viaPCP.Nonce()) {
		t.Fatalf("router's PCP entry %+v", e)
	}
	if e, ok := entry(gw, "UDP", pmpPort); !ok || e.Description != fmt.Sprintf("NAT-PMP %d udp", pmpPort) {
		t.Fatalf("router's NAT-PMP entry %+v", e)
	}

	rows := func(c *Client, port uint16) []Entry {
		t.Helper()
		es, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []Entry
		for _, e := range es {
			if e.External.Port() == port {
				out = append(out, e)
			}
		}
		return out
	}
	if es := rows(c, pcpPort); len(es) != 1 || !es[0].Ours || es[0].Method != PCP || es[0].External != viaPCP.External() {
		t.Fatalf("PCP mapping listed by its client as %+v, want one row, ours, pcp", es)
	}
	if es := rows(c2, pmpPort); len(es) != 1 || !es[0].Ours || es[0].Method != NATPMP || es[0].External != viaPMP.External() {
		t.Fatalf("NAT-PMP mapping listed by its client as %+v, want one row, ours, natpmp", es)
	}
	// Each Client sees the other's mapping once, as the router's entry.
	if es := rows(c2, pcpPort); len(es) != 1 || es[0].Ours || es[0].Method != UPnP {
		t.Fatalf("another client's PCP mapping listed as %+v", es)
	}
	if es := rows(c, pmpPort); len(es) != 1 || es[0].Ours || es[0].Method != UPnP {
		t.Fatalf("another client's NAT-PMP mapping listed as %+v", es)
	}
}

// TestPCPLabelHasNonce: miniupnpd prints the nonce as three 32-bit words in
// its own byte order; either spelling is ours, another nonce is not.
func TestPCPLabelHasNonce(t *testing.T) {
	nonce := [12]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xcc}
	for _, tc := range []struct {
		label string
		want  bool
	}{
		{"PCP MAP 0102030405060708090a0bcc", true},
		{"PCP MAP 0102030405060708090A0BCC", true},
		{"PCP MAP 0403020108070605cc0b0a09", true}, // little-endian router
		{"PCP MAP 0102030405060708090a0bcd", false},
		{"PCP PEER 0102030405060708090a0bcc", false},
		{"NAT-PMP 4700 tcp", false},
		{"PCP MAP ", false},
		{"", false},
	} {
		if got := pcpLabelHasNonce(tc.label, nonce); got != tc.want {
			t.Errorf("pcpLabelHasNonce(%q) = %v, want %v", tc.label, got, tc.want)
		}
	}
}
