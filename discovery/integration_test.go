package discovery_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// searchGateway runs a unicast search against gw until the first answer and
// returns it.
func searchGateway(t *testing.T, gw *gatewaytest.Gateway, targets ...string) discovery.Response {
	t.Helper()
	s := &discovery.Searcher{Unicast: []netip.AddrPort{gw.SSDPAddr()}, Targets: targets}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []discovery.Response
	if err := s.Search(ctx, func(r discovery.Response) { got = append(got, r); cancel() }); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("gatewaytest did not answer the search")
	}
	return got[0]
}

// The whole UPnP discovery path against the fake router: search, fetch,
// pick the connection service in preference order.
func TestGatewaytestDiscovery(t *testing.T) {
	prefs := []string{
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"urn:schemas-upnp-org:service:WANIPConnection:1",
		"urn:schemas-upnp-org:service:WANPPPConnection:1",
	}
	cases := []struct {
		name string
		cfg  gatewaytest.Config
		want string
	}{
		{"IGD:2", gatewaytest.Config{}, prefs[0]},
		{"IGD:1", gatewaytest.Config{IGDVersion: 1}, prefs[1]},
		{"PPP", gatewaytest.Config{IGDVersion: 1, PPP: true}, prefs[2]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw := gatewaytest.New(t, c.cfg)
			r := searchGateway(t, gw)
			if r.From.Addr() != gw.Addr() || r.Location.String() != gw.LocationURL() {
				t.Fatalf("answer from %v at %v; gateway %v at %v", r.From, r.Location, gw.Addr(), gw.LocationURL())
			}
			root, err := discovery.Fetch(context.Background(), r.Location, r.From.Addr(), nil)
			if err != nil {
				t.Fatal(err)
			}
			svcs := root.Services(prefs...)
			if len(svcs) == 0 || svcs[0].ServiceType != c.want {
				t.Fatalf("services %+v, want %s first", svcs, c.want)
			}
			if h := svcs[0].ControlURL.Hostname(); h != gw.Addr().String() {
				t.Errorf("control URL host %s, want %s", h, gw.Addr())
			}
			if !strings.HasPrefix(root.Device.DeviceType, "urn:schemas-upnp-org:device:InternetGatewayDevice:") {
				t.Errorf("root device %q", root.Device.DeviceType)
			}
		})
	}
}

// A router that advertises its description on another host (here this
// machine's 127.0.0.1) is still reached at its own address.
func TestGatewaytestForeignLocation(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetLocationHost("127.0.0.1")
	r := searchGateway(t, gw, discovery.TargetIGD1)
	if !strings.Contains(r.OriginalLocation, "//127.0.0.1:") {
		t.Fatalf("the knob did not take: LOCATION %s", r.OriginalLocation)
	}
	if r.Location.String() != gw.LocationURL() {
		t.Errorf("Location %s, want %s", r.Location, gw.LocationURL())
	}
	before := gw.Requests("description")
	if _, err := discovery.Fetch(context.Background(), r.Location, r.From.Addr(), nil); err != nil {
		t.Fatal(err)
	}
	if gw.Requests("description") != before+1 {
		t.Error("the description was not fetched from the gateway")
	}
}

// A silent router: the search just ends with its context.
func TestGatewaytestSilent(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetSilent(gatewaytest.UPnP, true)
	s := &discovery.Searcher{Unicast: []netip.AddrPort{gw.SSDPAddr()}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n := 0
	if err := s.Search(ctx, func(discovery.Response) { n++ }); err != nil || n != 0 {
		t.Errorf("silent gateway: %d answers, %v", n, err)
	}
	if gw.Requests(gatewaytest.SSDP) == 0 {
		t.Error("the gateway received no M-SEARCH")
	}
}
