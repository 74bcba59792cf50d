package igd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/internal/errs"
)

// routersDir holds the real devices' captures (see its README.md).
const routersDir = "../testdata/routers"

// fixtureWant is what a user of each captured router should get: the control
// path of the service chosen, given the connection status the replay reports
// for each service (status: control path → status; unlisted → "Connected").
// Each row is checked by hand against the capture's rootDesc.xml.
var fixtureWant = map[string]struct {
	chosen string            // RequestURI of the chosen control URL; "" = unusable device
	status map[string]string // GetStatusInfo answers that are not "Connected"
}{
	"actiontec-gt784wn": {chosen: "/uuid:70f196f9-33f5-f533-f996-f170f1f9f50002/WANPPPConnection:1"},
	"avm-fritzbox-7430": {chosen: "/igdupnp/control/WANIPConn1"},
	"cisco-cga4131com":  {chosen: "/upnp/control/WANIPConnection0"},
	"dlink-dir-890l":    {chosen: "/soap.cgi?service=WANIPConn1"},
	"google-onhub":      {chosen: "/ctl/IPConn"},
	"huawei-hg531-v1":   {chosen: "/ctrlt/WANPPPConnection_1"},
	"linksys-wag200g":   {chosen: "/upnp/control/WANPPPConn1"},
	// Two WANs, the first disconnected: the second must be chosen.
	"mikrotik-chr-7.10-two-wan": {chosen: "/upnp/control/xstnsgeuyh/wanipconn-7",
		status: map[string]string{"/upnp/control/yomkmsnooi/wanipconn-1": "Disconnected"}},
	"miniupnpd-1.8-ubuntu": {chosen: "/ctl/IPConn"},
	// IP and PPP offered: the IP service is preferred but down, the PPP
	// one says "Up" (as some routers do for connected).
	"netgear-r6230": {chosen: "/ctl/PPPConn",
		status: map[string]string{"/ctl/IPConn": "Disconnected", "/ctl/PPPConn": "Up"}},
	"newmedia-net-generic-x86": {chosen: "/uuid:dead-beef-deadbeef0000/WANIPConnection:1"},
	"nvidia-shield-dial":       {chosen: ""},
	"orange-livebox-3":         {chosen: "/87895a19/upnp/control/WANIPConn1"},
	"pfsense-2.5":              {chosen: "/ctl/IPConn"},
	"tplink-archer-ax50":       {chosen: "/ctl/IPConn"},
	"tplink-tl-wr841nd-ddwrt":  {chosen: "/control?WANIPConnection"},
}

// replay serves one captured router's SOAP answers: soap/<Action>.xml when
// captured, otherwise a minimal well-formed answer; GetStatusInfo reports the
// status the test gives (or the capture's, when the status is "Connected"
// and one was captured). It counts GetStatusInfo requests.
type replay struct {
	dir      string
	status   map[string]string
	mu       sync.Mutex
	statuses int
}

func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	sa := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	st, action, _ := strings.Cut(sa, "#")
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	if action == actionGetStatusInfo {
		rp.mu.Lock()
		rp.statuses++
		rp.mu.Unlock()
		status := rp.status[r.URL.RequestURI()]
		if status == "" {
			status = "Connected"
		}
		if b, err := os.ReadFile(filepath.Join(rp.dir, "soap", action+".xml")); err == nil && status == "Connected" {
			w.Write(b)
			return
		}
		fmt.Fprint(w, okReply(st, action, "NewConnectionStatus", status, "NewLastConnectionError", "ERROR_NONE", "NewUptime", "42").body)
		return
	}
	if b, err := os.ReadFile(filepath.Join(rp.dir, "soap", action+".xml")); err == nil {
		w.Write(b)
		return
	}
	fmt.Fprint(w, okReply(st, action).body)
}

func TestRouterFixtures(t *testing.T) {
	entries, err := os.ReadDir(routersDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		seen++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			want, ok := fixtureWant[name]
			if !ok {
				t.Fatalf("no expectation for %s: add a row to fixtureWant", name)
			}
			dir := filepath.Join(routersDir, name)
			rp := &replay{dir: dir, status: want.status}
			srv := httptest.NewServer(rp)
			defer srv.Close()
			host := srv.Listener.Addr().String()

			desc, err := os.ReadFile(filepath.Join(dir, "rootDesc.xml"))
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse("http://" + host + "/rootDesc.xml")
			root, err := discovery.ParseDescription(desc, loc, netip.MustParseAddr("127.0.0.1"))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			svcs, err := root.Usable(ServiceTypes...)
			if want.chosen == "" {
				if !errors.Is(err, errs.UnusableDevice) || len(svcs) != 0 {
					t.Fatalf("got %d services, err %v; want an unusable device", len(svcs), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("no usable service: %v", err)
			}
			var cands []*Client
			for _, s := range svcs {
				u := *s.ControlURL
				u.Host = host // the device's own port, as the replay serves it
				cands = append(cands, &Client{ControlURL: &u, ServiceType: s.ServiceType})
			}
			ctx := context.Background()
			cl, _, err := Choose(ctx, cands)
			if err != nil {
				t.Fatal(err)
			}
			if got := cl.ControlURL.RequestURI(); got != want.chosen {
				t.Fatalf("chose %s (%s), want %s", got, cl.ServiceType, want.chosen)
			}
			if len(cands) == 1 && rp.statuses != 0 {
				t.Errorf("one service, yet %d GetStatusInfo requests", rp.statuses)
			}
			// The chosen service works with the device's own answers.
			if _, err := os.Stat(filepath.Join(dir, "soap", "GetExternalIPAddress.xml")); err == nil {
				if a, err := cl.GetExternalIPAddress(ctx); err != nil || !a.IsValid() {
					t.Errorf("GetExternalIPAddress: %v, %v", a, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "soap", "GetStatusInfo.xml")); err == nil {
				// Huawei's answer spells NewUpTime with a capital T.
				if st, err := cl.GetStatusInfo(ctx); err != nil || !st.Connected() || st.Uptime <= 0 {
					t.Errorf("GetStatusInfo: %+v, %v", st, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, "soap", "GetGenericPortMappingEntry.xml")); err == nil {
				// Index 0 of the table, as the device answered it: an entry,
				// or a fault that ends a listing (713; DD-WRT says 402).
				pm, err := cl.GetGenericPortMappingEntry(ctx, 0)
				switch {
				case strings.Contains(string(b), "Fault"):
					if !isEndOfList(err) {
						t.Errorf("GetGenericPortMappingEntry fault: %v, want the end of the list", err)
					}
				case err != nil || pm.ExternalPort == 0 || (pm.Protocol != TCP && pm.Protocol != UDP):
					t.Errorf("GetGenericPortMappingEntry: %+v, %v", pm, err)
				}
			}
			m := PortMapping{ExternalPort: 8080, Protocol: TCP, InternalPort: 8080,
				InternalClient: "192.168.1.10", Enabled: true, Description: "test", LeaseDuration: time.Hour}
			if err := cl.AddPortMapping(ctx, m); err != nil {
				t.Errorf("AddPortMapping: %v", err)
			}
		})
	}
	if seen < 10 {
		t.Errorf("only %d router fixtures", seen)
	}
}
