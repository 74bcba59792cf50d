package upnpmap

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// restarted is a second Client for the same fake router, as a restarted
// program would make: nothing of the first one's state carries over.
func restarted(t *testing.T, c *Client) *Client {
	return &Client{
		Gateway:        c.Gateway,
		AnnounceAddr:   freeAnnounceAddr(t),
		Methods:        c.Methods,
		ProbeTimeout:   c.ProbeTimeout,
		RequestTimeout: c.RequestTimeout,
		CloseTimeout:   c.CloseTimeout,
		announceJitter: c.announceJitter,
		settleAfter:    c.settleAfter,
	}
}

// exportDetached maps port, exports the mapping through JSON (as a state
// file keeps it) and detaches it, leaving it on the router.
func exportDetached(t *testing.T, c *Client, port uint16) Record {
	t.Helper()
	m, err := c.Map(context.Background(), Request{Protocol: UDP, InternalPort: port, Family: IPv4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m.Export())
	if err != nil {
		t.Fatal(err)
	}
	m.Detach()
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestAdoptPCPRenewsWithSavedNonce(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP)
	rec := exportDetached(t, c, 4700)
	if rec.Nonce == ([12]byte{}) || rec.External.Port() == 0 {
		t.Fatalf("exported record lacks nonce or port: %+v", rec)
	}
	before := gw.Requests(gatewaytest.PCP)
	m, err := restarted(t, c).Adopt(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if n := gw.Requests(gatewaytest.PCP) - before; n != 1 {
		t.Errorf("adopt sent %d PCP requests, want the one renewal", n)
	}
	if m.External().Port() != rec.External.Port() || m.Nonce() != rec.Nonce {
		t.Errorf("adopted %v nonce %x, want %v nonce %x", m.External(), m.Nonce(), rec.External, rec.Nonce)
	}
	ms := gw.Mappings()
	if len(ms) != 1 || ms[0].Nonce != rec.Nonce || ms[0].ExternalPort != rec.External.Port() {
		t.Fatalf("router table after adopt: %+v, want the one mapping with the saved nonce", ms)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Errorf("Close of the adopted mapping left %+v", ms)
	}
}

func TestAdoptNATPMPKeepsPort(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, NATPMP)
	rec := exportDetached(t, c, 4701)
	m, err := restarted(t, c).Adopt(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.External().Port() != rec.External.Port() {
		t.Errorf("adopted port %d, want %d", m.External().Port(), rec.External.Port())
	}
	if ms := gw.Mappings(); len(ms) != 1 {
		t.Errorf("router table after adopt: %+v, want one mapping", ms)
	}
}

func TestAdoptUPnPSendsNoAdd(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	rec := exportDetached(t, c, 4702)
	if rec.Location == "" {
		t.Fatal("UPnP record has no location")
	}
	adds, ssdp := gw.Requests("AddPortMapping"), gw.Requests(gatewaytest.SSDP)
	m, err := restarted(t, c).Adopt(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := gw.Requests("AddPortMapping") - adds; n != 0 {
		t.Errorf("adopt sent %d AddPortMapping, want none", n)
	}
	if n := gw.Requests(gatewaytest.SSDP) - ssdp; n != 0 {
		t.Errorf("adopt searched (%d M-SEARCH) despite the recorded location", n)
	}
	if gw.Requests("GetSpecificPortMappingEntry") == 0 {
		t.Error("adopt did not check the entry on the router")
	}
	if m.External() != rec.External || m.Lifetime() <= 0 {
		t.Errorf("adopted %v lifetime %v, want %v with a lease", m.External(), m.Lifetime(), rec.External)
	}
}

func TestAdoptUPnPEntryGoneIsStale(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	rec := exportDetached(t, c, 4703)
	if err := c.Delete(context.Background(), DeleteRequest{Method: UPnP, Protocol: UDP, ExternalPort: rec.External.Port(), InternalPort: rec.Internal.Port(), InternalAddr: rec.Internal.Addr()}); err != nil {
		t.Fatal(err)
	}
	adds := gw.Requests("AddPortMapping")
	_, err := restarted(t, c).Adopt(context.Background(), rec)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("adopt of a deleted entry: %v, want ErrStale", err)
	}
	if gw.Requests("AddPortMapping") != adds {
		t.Error("a failed adopt mapped anew; that is the caller's choice")
	}
}

func TestAdoptExpiredIsStale(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP)
	rec := exportDetached(t, c, 4704)
	rec.Expires = time.Now().Add(-time.Second)
	before := gw.Requests(gatewaytest.PCP)
	_, err := restarted(t, c).Adopt(context.Background(), rec)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("adopt of an expired record: %v, want ErrStale", err)
	}
	if n := gw.Requests(gatewaytest.PCP) - before; n != 0 {
		t.Errorf("adopt of an expired record sent %d PCP requests", n)
	}
}

func TestAdoptRejectsBadRecords(t *testing.T) {
	_, c := testGateway(t, gatewaytest.Config{}, PCP)
	good := exportDetached(t, c, 4705)
	noNonce, ssh, other := good, good, good
	noNonce.Nonce = [12]byte{}
	ssh.Method = SSH
	other.Gateway = good.Gateway.Next()
	for name, tc := range map[string]struct {
		rec  Record
		want error
	}{
		"zero":          {Record{}, ErrInvalidArgs},
		"pcp no nonce":  {noNonce, ErrInvalidArgs},
		"ssh":           {ssh, ErrInvalidArgs},
		"other gateway": {other, ErrStale},
	} {
		if _, err := restarted(t, c).Adopt(context.Background(), tc.rec); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestAdoptPCPOtherNonceIsStale(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, PCP)
	rec := exportDetached(t, c, 4706)
	held := rec.Nonce
	rec.Nonce[0] ^= 0xff // not the nonce the router holds the port under
	_, err := restarted(t, c).Adopt(context.Background(), rec)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("adopt under another nonce: %v, want ErrStale", err)
	}
	t.Log(err)
	if ms := gw.Mappings(); len(ms) != 1 || ms[0].Nonce != held {
		t.Errorf("router table after a refused adopt: %+v, want the original mapping alone", ms)
	}
}

func TestAdoptUPnPEntryElsewhereIsStale(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{}, UPnP)
	rec := exportDetached(t, c, 4707)
	gw.AddMapping(gatewaytest.Mapping{Protocol: "UDP", ExternalPort: rec.External.Port(), InternalPort: 9})
	_, err := restarted(t, c).Adopt(context.Background(), rec)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("adopt of a port that forwards to another host: %v, want ErrStale", err)
	}
}

// TestAdoptChained: a chained mapping exported and detached is adopted by a
// restarted Client with both legs: the upstream leg is taken over on the
// upstream router (no new mapping there, the same external port, for PCP
// the same nonce), and Close deletes both.
func TestAdoptChained(t *testing.T) {
	for _, pair := range [][2]Method{{PCP, PCP}, {UPnP, UPnP}, {NATPMP, NATPMP}} {
		t.Run(string(pair[0])+"/"+string(pair[1]), func(t *testing.T) {
			in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, pair[0], pair[1])
			m := mustMap(t, c, Request{InternalPort: 4630, ExternalPort: 4730})
			b, err := json.Marshal(m.Export())
			if err != nil {
				t.Fatal(err)
			}
			m.Detach()
			var rec Record
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Upstream == nil || rec.Upstream.Gateway != out.Addr() {
				t.Fatalf("exported record %+v lacks the upstream leg", rec)
			}
			outer := out.Mappings()
			adds := out.Requests("AddPortMapping") + out.Requests("AddAnyPortMapping")
			c2 := restarted(t, c)
			c2.Upstream, c2.UpstreamMethods, c2.findUpstreamFn = c.Upstream, c.UpstreamMethods, c.findUpstreamFn
			a, err := c2.Adopt(t.Context(), rec)
			if err != nil {
				t.Fatal(err)
			}
			legs := a.Legs()
			if len(legs) != 2 || legs[1].External != rec.Upstream.External || legs[1].Internal != legs[0].External {
				t.Fatalf("adopted legs %+v (%v), want the recorded upstream leg %+v", legs, a.UpstreamErr(), rec.Upstream)
			}
			now := out.Mappings()
			if len(now) != 1 || len(outer) != 1 || now[0].ExternalPort != outer[0].ExternalPort || now[0].Nonce != outer[0].Nonce {
				t.Fatalf("upstream table %+v, was %+v: want the same one mapping", now, outer)
			}
			if n := out.Requests("AddPortMapping") + out.Requests("AddAnyPortMapping") - adds; n != 0 {
				t.Fatalf("%d UPnP adds on the upstream router while adopting", n)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if n, k := len(in.Mappings()), len(out.Mappings()); n+k != 0 {
				t.Fatalf("after Close: gateway %+v, upstream %+v", in.Mappings(), out.Mappings())
			}
		})
	}
}

// TestAdoptChainedUpstreamGone: the upstream router lost the recorded leg
// (it rebooted while no process ran): Adopt takes over the inner leg and
// makes the upstream leg afresh on the recorded upstream router.
func TestAdoptChainedUpstreamGone(t *testing.T) {
	_, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, NATPMP)
	m := mustMap(t, c, Request{InternalPort: 4631})
	rec := m.Export()
	m.Detach()
	out.Reboot()
	if len(out.Mappings()) != 0 {
		t.Fatal("reboot kept the table")
	}
	c2 := restarted(t, c) // Upstream unset: the recorded router is used
	c2.UpstreamMethods = c.UpstreamMethods
	c2.findUpstreamFn = func(context.Context, *gateway) (netip.Addr, error) {
		t.Error("the upstream probe ran although the record names the upstream router")
		return netip.Addr{}, errors.New("no probe in tests")
	}
	a, err := c2.Adopt(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	legs := a.Legs()
	if len(legs) != 2 || legs[1].Router != out.Addr() || len(out.Mappings()) != 1 {
		t.Fatalf("legs %+v (%v), upstream table %+v", legs, a.UpstreamErr(), out.Mappings())
	}
}
