package igd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// The igd client against gatewaytest's miniupnpd 2.3.1 knobs and against its
// spec defaults: both answers must reach the caller as the documented errors.

func mapping(client string, port uint16, proto string) igd.PortMapping {
	return igd.PortMapping{ExternalPort: port, Protocol: proto, InternalPort: port, InternalClient: client,
		Enabled: true, Description: "quirk", LeaseDuration: time.Hour}
}

func TestQuirkSecureModeAnotherHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gatewaytest.Config
		code int
		want error
	}{
		{"spec IGD:2", gatewaytest.Config{SecureMode: true}, 606, igd.ErrNotAuthorized},
		{"miniupnpd IGD:2", gatewaytest.Config{SecureMode: true, Miniupnpd: true}, 718, igd.ErrConflict},
		{"IGD:1", gatewaytest.Config{SecureMode: true, IGDVersion: 1}, 718, igd.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tc.cfg)
			c := clientFor(t, gw)
			err := c.AddPortMapping(t.Context(), mapping("192.168.1.9", 7000, "TCP"))
			var ue *igd.UPnPError
			if !errors.As(err, &ue) || ue.Code != tc.code || !errors.Is(err, tc.want) {
				t.Fatalf("AddPortMapping for another host: %v; want UPnP %d matching %v", err, tc.code, tc.want)
			}
			if err := c.AddPortMapping(t.Context(), mapping("127.0.0.1", 7000, "TCP")); err != nil {
				t.Fatalf("AddPortMapping for the caller: %v", err)
			}
		})
	}
}

func TestQuirkDeleteUnknownEntry(t *testing.T) {
	spec := clientFor(t, gatewaytest.New(t, gatewaytest.Config{}))
	if err := spec.DeletePortMapping(t.Context(), "", 7000, "TCP"); !errors.Is(err, igd.ErrNoSuchEntry) {
		t.Errorf("spec router, delete of nothing: %v; want ErrNoSuchEntry", err)
	}
	mini := clientFor(t, gatewaytest.New(t, gatewaytest.Config{Miniupnpd: true}))
	if err := mini.DeletePortMapping(t.Context(), "", 7000, "TCP"); err != nil {
		t.Errorf("miniupnpd, delete of nothing: %v; want success", err)
	}
}

// TestQuirkLowerCaseProtocol: a router that rejects "tcp" (TP-Link ER605,
// tailscale#7377) still works, because the client always sends upper case.
func TestQuirkLowerCaseProtocol(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{RejectLowerCaseProtocol: true})
	c := clientFor(t, gw)
	ctx := t.Context()
	if err := c.AddPortMapping(ctx, mapping("127.0.0.1", 7000, "tcp")); err != nil {
		t.Fatalf("AddPortMapping(tcp): %v", err)
	}
	e, err := c.GetSpecificPortMappingEntry(ctx, "", 7000, "tcp")
	if err != nil || e.InternalPort != 7000 {
		t.Fatalf("GetSpecificPortMappingEntry(tcp) = %+v, %v", e, err)
	}
	if err := c.DeletePortMapping(ctx, "", 7000, "udp"); !errors.Is(err, igd.ErrNoSuchEntry) {
		t.Errorf("DeletePortMapping(udp) of a TCP entry: %v", err)
	}
	if err := c.DeletePortMapping(ctx, "", 7000, "tcp"); err != nil {
		t.Errorf("DeletePortMapping(tcp): %v", err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("table after delete: %+v", ms)
	}
}
