package igd_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// These tests drive igd against gatewaytest, the fake router written from
// the specifications independently of this client. The control URL is looked
// up with a small description parse here rather than with package discovery.

type descDevice struct {
	Services []struct {
		ServiceType string `xml:"serviceType"`
		ControlURL  string `xml:"controlURL"`
	} `xml:"serviceList>service"`
	Devices []descDevice `xml:"deviceList>device"`
}

// clientFor fetches gw's description and returns a Client for the first
// connection service in igd.ServiceTypes order.
func clientFor(t *testing.T, gw *gatewaytest.Gateway) *igd.Client {
	t.Helper()
	loc, err := url.Parse(gw.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Device descDevice `xml:"device"`
	}
	if err := xml.Unmarshal(body, &root); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	var walk func(d descDevice)
	walk = func(d descDevice) {
		for _, s := range d.Services {
			found[s.ServiceType] = s.ControlURL
		}
		for _, c := range d.Devices {
			walk(c)
		}
	}
	walk(root.Device)
	for _, st := range igd.ServiceTypes {
		if ctl, ok := found[st]; ok {
			u, err := loc.Parse(ctl)
			if err != nil {
				t.Fatal(err)
			}
			return &igd.Client{ControlURL: u, ServiceType: st, Timeout: 2 * time.Second}
		}
	}
	t.Fatalf("no connection service in %v", found)
	return nil
}

func TestGatewayIntegration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     gatewaytest.Config
		service string
	}{
		{"IGD2", gatewaytest.Config{}, igd.ServiceWANIP2},
		{"IGD1", gatewaytest.Config{IGDVersion: 1}, igd.ServiceWANIP1},
		{"PPP", gatewaytest.Config{IGDVersion: 1, PPP: true}, igd.ServiceWANPPP1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tc.cfg)
			c := clientFor(t, gw)
			if c.ServiceType != tc.service {
				t.Fatalf("chose %s, want %s", c.ServiceType, tc.service)
			}
			ctx := context.Background()

			ext, err := c.GetExternalIPAddress(ctx)
			if err != nil || ext != gatewaytest.DefaultExternalAddr {
				t.Fatalf("GetExternalIPAddress = %v, %v", ext, err)
			}
			st, err := c.GetStatusInfo(ctx)
			if err != nil || !st.Connected() {
				t.Errorf("GetStatusInfo = %+v, %v", st, err)
			}

			m := igd.PortMapping{ExternalPort: 40001, Protocol: "tcp", InternalPort: 8080,
				InternalClient: "127.0.0.1", Enabled: true, Description: "igd <test> & co", LeaseDuration: time.Hour}
			if err := c.AddPortMapping(ctx, m); err != nil {
				t.Fatal(err)
			}
			table := gw.Mappings()
			if len(table) != 1 || table[0].ExternalPort != 40001 || table[0].Protocol != "TCP" ||
				table[0].InternalPort != 8080 || table[0].Description != m.Description {
				t.Fatalf("router table after AddPortMapping: %+v", table)
			}

			got, err := c.GetSpecificPortMappingEntry(ctx, "", 40001, igd.TCP)
			if err != nil {
				t.Fatal(err)
			}
			if got.InternalPort != 8080 || got.InternalClient != "127.0.0.1" || got.Description != m.Description ||
				!got.Enabled || got.LeaseDuration <= 0 || got.LeaseDuration > time.Hour {
				t.Errorf("GetSpecificPortMappingEntry = %+v", got)
			}

			list, err := c.ListPortMappings(ctx)
			if err != nil || len(list) != 1 || list[0].ExternalPort != 40001 {
				t.Errorf("ListPortMappings = %+v, %v", list, err)
			}

			if tc.service == igd.ServiceWANIP2 {
				l2, err := c.GetListOfPortMappings(ctx, 1, 65535, igd.TCP, true, 0)
				if err != nil || len(l2) != 1 || l2[0].ExternalPort != 40001 || l2[0].Description != m.Description {
					t.Errorf("GetListOfPortMappings = %+v, %v", l2, err)
				}
				// A held port: AddAnyPortMapping gets another one.
				gw.AddMapping(gatewaytest.Mapping{Protocol: "UDP", ExternalPort: 40002,
					InternalAddr: netip.MustParseAddr("127.9.9.9"), InternalPort: 1})
				mu := m
				mu.Protocol, mu.ExternalPort = igd.UDP, 40002
				err = c.AddPortMapping(ctx, mu)
				if !errors.Is(err, igd.ErrConflict) {
					t.Errorf("AddPortMapping on a held port: %v, want ErrConflict", err)
				}
				port, err := c.AddAnyPortMapping(ctx, mu)
				if err != nil || port == 0 || port == 40002 {
					t.Errorf("AddAnyPortMapping = %d, %v", port, err)
				}
			} else {
				if _, err := c.AddAnyPortMapping(ctx, m); !errors.Is(err, igd.ErrUnsupported) {
					t.Errorf("AddAnyPortMapping on IGD:1: %v", err)
				}
			}

			if err := c.DeletePortMapping(ctx, "", 40001, igd.TCP); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetSpecificPortMappingEntry(ctx, "", 40001, igd.TCP); !errors.Is(err, igd.ErrNoSuchEntry) {
				t.Errorf("after delete: %v, want ErrNoSuchEntry", err)
			}
			if slices.ContainsFunc(gw.Mappings(), func(x gatewaytest.Mapping) bool { return x.ExternalPort == 40001 }) {
				t.Error("mapping still in the router's table")
			}
		})
	}
}

func TestGatewayPermanentOnly(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IGDVersion: 1, PermanentOnly: true})
	c := clientFor(t, gw)
	ctx := context.Background()
	m := igd.PortMapping{ExternalPort: 40010, Protocol: igd.UDP, InternalPort: 40010,
		InternalClient: "127.0.0.1", Enabled: true, LeaseDuration: time.Hour}
	err := c.AddPortMapping(ctx, m)
	if !errors.Is(err, igd.ErrOnlyPermanentLeases) || !igd.IsRetryWithPermanentLease(err) {
		t.Fatalf("got %v, want 725", err)
	}
	m.LeaseDuration = 0
	if err := c.AddPortMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	if table := gw.Mappings(); len(table) != 1 || !table[0].Expires.IsZero() {
		t.Errorf("table %+v, want one permanent mapping", table)
	}
}

func TestGatewaySecureMode(t *testing.T) {
	for _, tc := range []struct {
		version int
		want    error
	}{{1, igd.ErrConflict}, {2, igd.ErrNotAuthorized}} {
		gw := gatewaytest.New(t, gatewaytest.Config{IGDVersion: tc.version, SecureMode: true})
		c := clientFor(t, gw)
		err := c.AddPortMapping(context.Background(), igd.PortMapping{ExternalPort: 40020, Protocol: igd.TCP,
			InternalPort: 80, InternalClient: "192.168.1.50", Enabled: true})
		if !errors.Is(err, tc.want) {
			t.Errorf("IGD:%d secure mode, mapping for another host: %v, want %v", tc.version, err, tc.want)
		}
	}
}

func TestGatewayFaultsAndReboot(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	c := clientFor(t, gw)
	ctx := context.Background()
	m := igd.PortMapping{ExternalPort: 40030, Protocol: igd.TCP, InternalPort: 80, InternalClient: "127.0.0.1", Enabled: true}

	gw.FailAction("AddPortMapping", 728)
	if err := c.AddPortMapping(ctx, m); !errors.Is(err, igd.ErrNoResources) {
		t.Errorf("injected 728: %v", err)
	}
	gw.FailAction("AddPortMapping", 0)
	if err := c.AddPortMapping(ctx, m); err != nil {
		t.Fatal(err)
	}

	// After a reboot the old control port refuses connections.
	gw.Reboot()
	if _, err := c.GetExternalIPAddress(ctx); !errors.Is(err, igd.ErrUnreachable) {
		t.Errorf("after reboot: %v, want ErrUnreachable", err)
	}
	// Rediscovered, the table is empty.
	c = clientFor(t, gw)
	if _, err := c.GetSpecificPortMappingEntry(ctx, "", 40030, igd.TCP); !errors.Is(err, igd.ErrNoSuchEntry) {
		t.Errorf("after reboot the mapping should be gone: %v", err)
	}

	// A router that hangs: the call ends at Timeout.
	gw.SetSilent(gatewaytest.UPnP, true)
	c.Timeout = 100 * time.Millisecond
	start := time.Now()
	if _, err := c.GetExternalIPAddress(ctx); !errors.Is(err, igd.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Errorf("silent router: %v after %v", err, time.Since(start))
	}
	gw.SetSilent(gatewaytest.UPnP, false)
}
