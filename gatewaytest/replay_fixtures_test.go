package gatewaytest_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// TestReplayFixtures replays every captured router of the repository
// (../testdata/routers/*/) and gatewaytest's own fixtures (testdata/replay/*/)
// and uses each as a client would: the description through discovery's
// fetch, the connection service through igd's selection, then a port mapped,
// read back and deleted. A capture that offers no WAN connection service at
// all must yield none.
func TestReplayFixtures(t *testing.T) {
	var dirs []string
	for _, pattern := range []string{"../testdata/routers/*/rootDesc.xml", "testdata/replay/*/rootDesc.xml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no fixtures found, not even gatewaytest's own")
	}
	for i, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			replayFixture(t, dir, uint16(41000+i))
		})
	}
}

func replayFixture(t *testing.T, dir string, port uint16) {
	raw, err := os.ReadFile(filepath.Join(dir, "rootDesc.xml"))
	if err != nil {
		t.Fatal(err)
	}
	gw := gatewaytest.New(t, gatewaytest.Config{Replay: os.DirFS(dir)})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	loc, err := url.Parse(gw.LocationURL())
	if err != nil {
		t.Fatal(err)
	}
	root, err := discovery.Fetch(ctx, loc, gw.Addr(), nil)
	if err != nil {
		t.Fatalf("discovery.Fetch: %v", err)
	}
	var candidates []*igd.Client
	for _, s := range root.Services(igd.ServiceTypes...) {
		candidates = append(candidates, &igd.Client{ControlURL: s.ControlURL, ServiceType: s.ServiceType, Timeout: 5 * time.Second})
	}
	if !offersConnection(string(raw)) {
		if len(candidates) != 0 {
			t.Fatalf("a capture with no WAN connection service yielded %d", len(candidates))
		}
		return
	}
	c, _, err := igd.Choose(ctx, candidates)
	if err != nil {
		t.Fatalf("%v; the capture offers %v", err, serviceTypes(root))
	}

	m := igd.PortMapping{ExternalPort: port, Protocol: igd.TCP, InternalPort: 8080, InternalClient: "127.0.0.1",
		Enabled: true, Description: "replay " + filepath.Base(dir), LeaseDuration: time.Hour}
	if err := c.AddPortMapping(ctx, m); err != nil {
		t.Fatalf("AddPortMapping on %s: %v", c.ServiceType, err)
	}
	got, err := c.GetSpecificPortMappingEntry(ctx, "", port, igd.TCP)
	if err != nil || got.InternalPort != 8080 || got.InternalClient != "127.0.0.1" {
		t.Fatalf("GetSpecificPortMappingEntry = %+v, %v", got, err)
	}
	if ms := gw.Mappings(); len(ms) != 1 || ms[0].ExternalPort != port {
		t.Fatalf("the router's table: %+v", ms)
	}
	if err := c.DeletePortMapping(ctx, "", port, igd.TCP); err != nil {
		t.Fatalf("DeletePortMapping: %v", err)
	}
	if _, err := c.GetSpecificPortMappingEntry(ctx, "", port, igd.TCP); !errors.Is(err, igd.ErrNoSuchEntry) {
		t.Fatalf("after the delete, GetSpecificPortMappingEntry: %v", err)
	}
}

// offersConnection reports whether a description names a WAN connection
// service of any URN domain.
func offersConnection(desc string) bool {
	return strings.Contains(desc, ":service:WANIPConnection:") || strings.Contains(desc, ":service:WANPPPConnection:")
}

func serviceTypes(root *discovery.Root) []string {
	var out []string
	for _, s := range root.Services() {
		out = append(out, s.ServiceType)
	}
	return out
}
