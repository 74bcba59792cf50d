package interop

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway1"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// Only the ByURL entry points are used: goupnp's discovery multicasts, which
// tests must never do.

func location(t *testing.T, g *gatewaytest.Gateway) *url.URL {
	t.Helper()
	u, err := url.Parse(g.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// noKeepAlive gives a goupnp service client its own HTTP transport so no
// connection outlives the test.
func noKeepAlive(sc *soap.SOAPClient) {
	sc.HTTPClient = http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestGoUPnPReadsDescription(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	root, err := goupnp.DeviceByURLCtx(ctx(t), location(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if root.Device.DeviceType != "urn:schemas-upnp-org:device:InternetGatewayDevice:2" {
		t.Fatalf("root device %q", root.Device.DeviceType)
	}
	if svcs := root.Device.FindService(internetgateway2.URN_WANCommonInterfaceConfig_1); len(svcs) != 1 {
		t.Fatalf("WANCommonInterfaceConfig found %d times", len(svcs))
	}
}

func TestGoUPnPIGD2Mapping(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	c := ctx(t)
	clients, err := internetgateway2.NewWANIPConnection2ClientsByURLCtx(c, location(t, g))
	if err != nil || len(clients) != 1 {
		t.Fatalf("WANIPConnection:2 clients: %d, %v", len(clients), err)
	}
	ip := clients[0]
	noKeepAlive(ip.SOAPClient)

	ext, err := ip.GetExternalIPAddressCtx(c)
	if err != nil || ext != gatewaytest.DefaultExternalAddr.String() {
		t.Fatalf("GetExternalIPAddress %q, %v", ext, err)
	}
	if err := ip.AddPortMappingCtx(c, "", 9000, "TCP", 9001, "127.0.0.1", true, "goupnp", 3600); err != nil {
		t.Fatal(err)
	}
	m, ok := FindMapping(g, "TCP", 9000)
	if !ok || m.Method != gatewaytest.UPnP || m.InternalPort != 9001 || m.Description != "goupnp" || m.Lifetime != time.Hour {
		t.Fatalf("table after AddPortMapping:\n%s", Describe(g))
	}

	rh, port, proto, iport, client, enabled, desc, lease, err := ip.GetGenericPortMappingEntryCtx(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rh != "" || port != 9000 || proto != "TCP" || iport != 9001 || client != "127.0.0.1" || !enabled || desc != "goupnp" || lease == 0 || lease > 3600 {
		t.Fatalf("GetGenericPortMappingEntry: %q %d %s %d %s %v %q %d", rh, port, proto, iport, client, enabled, desc, lease)
	}
	_, _, _, _, _, _, _, _, err = ip.GetGenericPortMappingEntryCtx(c, 1)
	if code := upnpErrorCode(err); code != 713 {
		t.Fatalf("index past the end: %v (code %d), want 713", err, code)
	}

	reserved, err := ip.AddAnyPortMappingCtx(c, "", 9000, "UDP", 9000, "127.0.0.1", true, "any", 600)
	if err != nil || reserved != 9000 {
		t.Fatalf("AddAnyPortMapping: %d, %v", reserved, err)
	}
	listing, err := ip.GetListOfPortMappingsCtx(c, 1, 65535, "TCP", true, 0)
	if err != nil || !strings.Contains(listing, "<p:NewExternalPort>9000</p:NewExternalPort>") {
		t.Fatalf("GetListOfPortMappings: %v\n%s", err, listing)
	}

	if err := ip.DeletePortMappingCtx(c, "", 9000, "TCP"); err != nil {
		t.Fatal(err)
	}
	if _, ok := FindMapping(g, "TCP", 9000); ok {
		t.Fatalf("table after DeletePortMapping:\n%s", Describe(g))
	}
	if code := upnpErrorCode(ip.DeletePortMappingCtx(c, "", 9000, "TCP")); code != 714 {
		t.Fatalf("second delete: code %d, want 714", code)
	}
}

func TestGoUPnPConflict(t *testing.T) {
	g := gatewaytest.New(t, gatewaytest.Config{})
	g.AddMapping(gatewaytest.Mapping{Protocol: "TCP", ExternalPort: 443})
	clients, err := internetgateway2.NewWANIPConnection2ClientsByURLCtx(ctx(t), location(t, g))
	if err != nil || len(clients) != 1 {
		t.Fatalf("clients: %v", err)
	}
	noKeepAlive(clients[0].SOAPClient)
	err = clients[0].AddPortMappingCtx(ctx(t), "", 443, "TCP", 443, "127.0.0.1", true, "x", 60)
	if code := upnpErrorCode(err); code != 718 {
		t.Fatalf("AddPortMapping over another host's port: %v (code %d), want 718", err, code)
	}
}

func TestGoUPnPIGD1AndPPP(t *testing.T) {
	g1 := gatewaytest.New(t, gatewaytest.Config{IGDVersion: 1})
	ip1, err := internetgateway1.NewWANIPConnection1ClientsByURLCtx(ctx(t), location(t, g1))
	if err != nil || len(ip1) != 1 {
		t.Fatalf("IGD:1 WANIPConnection:1 clients: %d, %v", len(ip1), err)
	}
	noKeepAlive(ip1[0].SOAPClient)
	if err := ip1[0].AddPortMappingCtx(ctx(t), "", 7000, "UDP", 7000, "127.0.0.1", true, "v1", 0); err != nil {
		t.Fatal(err)
	}
	if m, ok := FindMapping(g1, "UDP", 7000); !ok || !m.Expires.IsZero() {
		t.Fatalf("IGD:1 permanent mapping:\n%s", Describe(g1))
	}
	// An IGD:2 gateway offers no WANIPConnection:1 service in its
	// description (like miniupnpd), so goupnp's v1 client finds nothing.
	g2 := gatewaytest.New(t, gatewaytest.Config{})
	if c, err := internetgateway2.NewWANIPConnection1ClientsByURLCtx(ctx(t), location(t, g2)); len(c) != 0 {
		t.Fatalf("WANIPConnection:1 on IGD:2: %d clients, %v", len(c), err)
	}

	gp := gatewaytest.New(t, gatewaytest.Config{PPP: true, IGDVersion: 1})
	ppp, err := internetgateway1.NewWANPPPConnection1ClientsByURLCtx(ctx(t), location(t, gp))
	if err != nil || len(ppp) != 1 {
		t.Fatalf("WANPPPConnection:1 clients: %d, %v", len(ppp), err)
	}
	noKeepAlive(ppp[0].SOAPClient)
	if err := ppp[0].AddPortMappingCtx(ctx(t), "", 7001, "TCP", 7001, "127.0.0.1", true, "ppp", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := FindMapping(gp, "TCP", 7001); !ok {
		t.Fatalf("PPP mapping:\n%s", Describe(gp))
	}
}

// upnpErrorCode extracts the UPnPError code goupnp reports (0 if none).
func upnpErrorCode(err error) int {
	var fault *soap.SOAPFaultError
	if !errors.As(err, &fault) {
		return 0
	}
	return fault.Detail.UPnPError.Errorcode
}
