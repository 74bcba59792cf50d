package pcp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/pcp"
)

// TestClientAddrBeyondANAT: a server that sees requests come from another
// NAT's address (the upstream router of a double NAT) answers
// ADDRESS_MISMATCH to the socket's own address, and maps to the NAT's
// address when MapRequest.ClientAddr names it; Delete carries it again.
func TestClientAddrBeyondANAT(t *testing.T) {
	wan := netip.MustParseAddr("10.77.0.2")
	gw := gatewaytest.New(t, gatewaytest.Config{BehindNAT: wan})
	c := client(gw.PCPAddr())
	ctx := t.Context()
	req := pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 18081, Lifetime: time.Minute}
	var re *pcp.ResultError
	if _, err := c.Map(ctx, req); !errors.As(err, &re) || re.Code != pcp.AddressMismatch {
		t.Fatalf("without ClientAddr: %v, want ADDRESS_MISMATCH", err)
	}
	req.ClientAddr = wan
	m, err := c.Map(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 1 || ms[0].InternalAddr != wan || ms[0].InternalPort != 18081 {
		t.Fatalf("table %+v, want a mapping to %v", ms, wan)
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Fatalf("after Delete: %+v", ms)
	}
}
