package pcp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/pcp"
)

// The pcp client against gatewaytest's miniupnpd 2.3.1 knobs and against its
// RFC 6887 defaults.

func TestQuirkDeleteMissingMapping(t *testing.T) {
	gone := &pcp.MapResponse{Nonce: pcp.NewNonce(), Protocol: pcp.TCP, InternalPort: 18080,
		External: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 18080)}

	spec := client(gatewaytest.New(t, gatewaytest.Config{}).PCPAddr())
	if err := spec.Delete(t.Context(), gone); err != nil {
		t.Errorf("RFC router, delete of nothing: %v; want nil (SUCCESS)", err)
	}

	mini := client(gatewaytest.New(t, gatewaytest.Config{Miniupnpd: true}).PCPAddr())
	err := mini.Delete(t.Context(), gone)
	var re *pcp.ResultError
	if !errors.Is(err, pcp.ErrNoSuchEntry) || !errors.As(err, &re) || re.Code != pcp.NoResources {
		t.Errorf("miniupnpd, delete of nothing: %v; want NO_RESOURCES matching ErrNoSuchEntry", err)
	}
}

func TestQuirkPreferFailureIgnored(t *testing.T) {
	req := pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 18080, Lifetime: time.Hour, PreferFailure: true,
		SuggestedExternal: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 5000)}

	specGW := gatewaytest.New(t, gatewaytest.Config{})
	specGW.AddMapping(gatewaytest.Mapping{ExternalPort: 5000}) // another host holds 5000
	_, err := client(specGW.PCPAddr()).Map(t.Context(), req)
	var re *pcp.ResultError
	if !errors.As(err, &re) || re.Code != pcp.CannotProvideExternal || !errors.Is(err, pcp.ErrPortInUse) {
		t.Errorf("RFC router, PREFER_FAILURE on a taken port: %v; want CANNOT_PROVIDE_EXTERNAL", err)
	}

	miniGW := gatewaytest.New(t, gatewaytest.Config{Miniupnpd: true})
	miniGW.AddMapping(gatewaytest.Mapping{ExternalPort: 5000})
	m, err := client(miniGW.PCPAddr()).Map(t.Context(), req)
	if err != nil {
		t.Fatalf("miniupnpd, PREFER_FAILURE on a taken port: %v; want another port", err)
	}
	// The caller learns the truth from the response: not the port it asked for.
	if p := m.External.Port(); p == 5000 || p == 0 {
		t.Errorf("granted %v", m.External)
	}
	if !hasPCPPort(miniGW.Mappings(), m.External.Port()) {
		t.Errorf("the granted port %d is not in the router's table %+v", m.External.Port(), miniGW.Mappings())
	}
}

func hasPCPPort(ms []gatewaytest.Mapping, port uint16) bool {
	for _, m := range ms {
		if m.Method == gatewaytest.PCP && m.ExternalPort == port {
			return true
		}
	}
	return false
}

// TestQuirkUnknownResultCode: a result code RFC 6887 does not define comes
// back at once as a *ResultError carrying it, after a single request.
func TestQuirkUnknownResultCode(t *testing.T) {
	for _, code := range []int{14, 200, 255} {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.SetResult(gatewaytest.PCP, code)
		_, err := client(gw.PCPAddr()).Map(t.Context(), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 18080, Lifetime: time.Hour})
		var re *pcp.ResultError
		if !errors.As(err, &re) || int(re.Code) != code || errors.Is(err, pcp.ErrTimeout) {
			t.Errorf("result %d: Map error %v; want a *ResultError with that code", code, err)
		}
		if n := gw.Requests(gatewaytest.PCP); n != 1 {
			t.Errorf("result %d: %d requests, want 1", code, n)
		}
	}
}
