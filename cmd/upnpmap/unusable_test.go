package main

import (
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestAddUnusableDevice: a UPnP-only add on a router whose description
// offers no connection service exits 5 (not 2, "no gateway"), saying what
// the device offered; under --json the failure is one object with its class.
func TestAddUnusableDevice(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gatewaytest.Config
		want string // in the message: what the device offered, or why it could not be read
	}{
		{"only Layer3Forwarding", gatewaytest.Config{OnlyLayer3Forwarding: true}, "Layer3Forwarding:1"},
		{"nested 6000 deep", gatewaytest.Config{OnlyLayer3Forwarding: true, NestedDevices: 6000}, "nested deeper"},
		// About 290 KB, over the 256 KiB a description may have.
		{"too big", gatewaytest.Config{NestedDevices: 7000}, "larger than 262144 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tc.cfg)
			e := newEnv(t)
			args := []string{"add", "8080", "--gateway", gw.Addr().String(), "--method", "upnp"}
			r := e.run(args...)
			if r.code != exitUnusable || !strings.Contains(r.stderr, "cannot map ports") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 5 naming %q:\n%s", tc.want, r)
			}
			r = e.run(append(args, "--json")...)
			objs := jsonLines(t, r.stdout)
			if r.code != exitUnusable || len(objs) != 1 {
				t.Fatalf("--json: want exit 5 and one object:\n%s", r)
			}
			o := objs[0]
			if o["class"] != "unusable-device" || o["exit_code"] != float64(exitUnusable) ||
				!strings.Contains(o["detail"].(string), tc.want) {
				t.Errorf("--json error object %v", o)
			}
		})
	}
}
