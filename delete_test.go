package upnpmap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestGatewayDeleteAnyMethod: a DeleteRequest that names no method is tried
// with every enabled method that can delete what it names — here NAT-PMP by
// the internal port, before UPnP — so a record that lost its method still
// deletes the mapping, and UPnP is not asked once NAT-PMP succeeded.
func TestGatewayDeleteAnyMethod(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{})
	c.Methods = []Method{NATPMP, UPnP}
	m := mustMap(t, c, Request{InternalPort: 5900})
	if m.Method() != NATPMP {
		t.Fatalf("mapped via %v", m.Method())
	}
	ext := m.External().Port()
	m.Detach()
	upnpBefore := gw.Requests(gatewaytest.UPnP)
	other := &Client{Gateway: c.Gateway, Methods: []Method{NATPMP, UPnP}}
	if err := other.Delete(context.Background(), DeleteRequest{ExternalPort: ext, InternalPort: 5900}); err != nil {
		t.Fatal(err)
	}
	if _, ok := entry(gw, "TCP", ext); ok {
		t.Fatalf("still mapped: %+v", gw.Mappings())
	}
	if n := gw.Requests(gatewaytest.UPnP) - upnpBefore; n != 0 {
		t.Fatalf("%d UPnP requests after NAT-PMP deleted it", n)
	}
}

// TestGatewayDeleteHonoursContext: Delete is bounded by the caller's
// context, not by a fixed budget per method: a silent router costs the
// caller's timeout, and the error says it ran out.
func TestGatewayDeleteHonoursContext(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{})
	c.RequestTimeout = time.Hour // only ctx can end the wait
	gw.SetSilent(gatewaytest.NATPMP, true)
	gw.SetSilent(gatewaytest.UPnP, true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Delete(ctx, DeleteRequest{ExternalPort: 6000, InternalPort: 6000})
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a timeout", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Delete returned before its context ended, with every method silent")
	}
}

// TestGatewayDeleteMissingUPnPEntry: Delete sends the delete alone (no read
// of the entry first), so whether a missing UPnP mapping is an error is the
// router's answer: ErrNoSuchEntry from a router that says 714, success from
// one that, like miniupnpd, answers success for any port.
func TestGatewayDeleteMissingUPnPEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     gatewaytest.Config
		wantErr error
	}{
		{"714", gatewaytest.Config{}, ErrNoSuchEntry},
		{"miniupnpd", gatewaytest.Config{Miniupnpd: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, c := testGateway(t, tc.cfg, UPnP)
			d := DeleteRequest{Method: UPnP, ExternalPort: 6001}
			err := c.Delete(context.Background(), d)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Delete of a missing entry: %v, want %v", err, tc.wantErr)
			}
			before := gw.Requests(gatewaytest.SOAP)
			_ = c.Delete(context.Background(), d)
			if n := gw.Requests(gatewaytest.SOAP) - before; n != 1 || gw.Requests("DeletePortMapping") != 2 {
				t.Fatalf("a delete cost %d SOAP requests (%d DeletePortMapping in all), want just the delete", n, gw.Requests("DeletePortMapping"))
			}
		})
	}
}

// TestGatewayClosePCPMappingAlreadyGone: Close of a PCP mapping the router
// no longer has succeeds, whether the router answers the delete with
// SUCCESS (RFC 6887 §15) or, like miniupnpd 2.3.1, with NO_RESOURCES
// (issue 19 item 4); a Delete of it again says ErrNoSuchEntry on
// miniupnpd.
func TestGatewayClosePCPMappingAlreadyGone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     gatewaytest.Config
		again   error
		againOK bool
	}{
		{"spec", gatewaytest.Config{}, nil, true},
		{"miniupnpd", gatewaytest.Config{PCPDeleteMissingNoResources: true}, ErrNoSuchEntry, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, c := testGateway(t, tc.cfg, PCP)
			m := mustMap(t, c, Request{InternalPort: 6010, Lifetime: time.Hour})
			// Another process deletes it behind the mapping's back (its
			// record holds the nonce).
			d := m.DeleteRequest()
			other := &Client{Gateway: gw.Addr(), Methods: []Method{PCP}, ProbeTimeout: testProbeTimeout, RequestTimeout: 2 * time.Second}
			if err := other.Delete(context.Background(), d); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if n := len(gw.Mappings()); n != 0 {
				t.Fatalf("table after Delete: %+v", gw.Mappings())
			}
			err := other.Delete(context.Background(), d)
			if tc.againOK != (err == nil) || (tc.again != nil && !errors.Is(err, tc.again)) {
				t.Errorf("Delete of the deleted mapping: %v, want %v", err, tc.again)
			}
			before := gw.Requests(gatewaytest.PCP)
			if err := m.Close(); err != nil {
				t.Errorf("Close of a mapping the router no longer has: %v", err)
			}
			if n := gw.Requests(gatewaytest.PCP) - before; n == 0 {
				t.Error("Close sent no delete")
			}
		})
	}
}
