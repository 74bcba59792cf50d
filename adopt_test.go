package upnpmap

import (
	"context"
	"encoding/json"
	"errors"
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
