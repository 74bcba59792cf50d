package discovery

import (
	"errors"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/igd"
)

// routersDir holds the real devices' captures (see its README.md).
const routersDir = "../testdata/routers"

// fixtureConnServices is how many port-mapping (WAN connection) services each
// captured device offers, counted by hand in its rootDesc.xml; 0 means the
// device has none and must be reported unusable.
var fixtureConnServices = map[string]int{
	"actiontec-gt784wn":         1,
	"avm-fritzbox-7430":         1,
	"cisco-cga4131com":          1,
	"dlink-dir-890l":            1,
	"google-onhub":              1,
	"huawei-hg531-v1":           1,
	"linksys-wag200g":           1,
	"mikrotik-chr-7.10-two-wan": 2,
	"miniupnpd-1.8-ubuntu":      1,
	"netgear-r6230":             2,
	"newmedia-net-generic-x86":  2,
	"nvidia-shield-dial":        0,
	"orange-livebox-3":          1,
	"pfsense-2.5":               1,
	"tplink-archer-ax50":        1,
	"tplink-tl-wr841nd-ddwrt":   1,
}

// fixtureFileName is the README's rule for an SCPD's file name.
var fixtureFileName = regexp.MustCompile(`[^A-Za-z0-9._\-+=,@~]`)

func TestRouterFixtures(t *testing.T) {
	entries, err := os.ReadDir(routersDir)
	if err != nil {
		t.Fatal(err)
	}
	responder := netip.MustParseAddr("192.168.1.1")
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			want, ok := fixtureConnServices[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			dir := filepath.Join(routersDir, name)
			for _, f := range []string{"rootDesc.xml", "SOURCE.md"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("missing %s", f)
				}
			}
			b, _ := os.ReadFile(filepath.Join(dir, "rootDesc.xml"))
			root, err := ParseDescription(b, mustURL(t, "http://192.168.1.1:5000/rootDesc.xml"), responder)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if root.Device.DeviceType == "" || root.Device.FriendlyName == "" {
				t.Errorf("root device %q %q", root.Device.DeviceType, root.Device.FriendlyName)
			}
			for _, s := range root.Services() {
				for _, u := range []string{s.ControlURL.String(), urlString(s.SCPDURL)} {
					if u != "" && !strings.HasPrefix(u, "http://192.168.1.1:") {
						t.Errorf("%s: URL %s not pinned to the responder", s.ServiceType, u)
					}
				}
			}
			svcs, err := root.Usable(igd.ServiceTypes...)
			if want == 0 {
				if !errors.Is(err, ErrUnusableDevice) || len(svcs) != 0 {
					t.Fatalf("%d services, err %v; want unusable", len(svcs), err)
				}
				if !strings.Contains(err.Error(), root.Device.FriendlyName) {
					t.Errorf("error does not name the device: %v", err)
				}
				return
			}
			if err != nil || len(svcs) != want {
				t.Fatalf("%d connection services, err %v; want %d", len(svcs), err, want)
			}
			// Where SCPDs were captured, each connection service's is there,
			// named as the README says.
			scpds, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
			if len(scpds) > 1 {
				for _, s := range svcs {
					f := fixtureFileName.ReplaceAllString(path.Base(s.SCPDURL.Path), "_")
					if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
						t.Errorf("SCPD of %s: %v", s.ServiceType, err)
					}
				}
			}
		})
	}
	if n < 10 {
		t.Errorf("%d router fixtures, want at least 10", n)
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}
