package gatewaytest

import (
	"os"
	"testing"
)

// TestSetServiceDown: on the two-WAN MikroTik capture, the service marked
// down says Disconnected and refuses mappings, the other stays connected
// and maps; marked up again, it maps too. The down service's captured
// GetStatusInfo, if any, does not hide it.
func TestSetServiceDown(t *testing.T) {
	g := New(t, Config{Replay: os.DirFS("../testdata/routers/mikrotik-chr-7.10-two-wan")})
	const (
		svc   = "urn:schemas-upnp-org:service:WANIPConnection:1"
		wan1  = "/upnp/control/yomkmsnooi/wanipconn-1"
		wan7  = "/upnp/control/xstnsgeuyh/wanipconn-7"
		local = "127.0.0.1"
	)
	g.SetServiceDown(wan1, true)
	status := func(path string) string {
		return mustOK(t, "GetStatusInfo "+path, soapCall{svc: svc, action: "GetStatusInfo", path: path}.do(t, g))["NewConnectionStatus"]
	}
	if s := status(wan1); s != "Disconnected" {
		t.Errorf("down service: status %q", s)
	}
	if s := status(wan7); s != "Connected" {
		t.Errorf("the other service: status %q", s)
	}
	add := func(path string, port int) soapResult {
		return soapCall{svc: svc, action: "AddPortMapping", path: path, args: addArgs(port, "TCP", port, local, "t", 3600)}.do(t, g)
	}
	mustFault(t, "AddPortMapping on the down service", add(wan1, 7001), downActionFailed)
	mustOK(t, "AddPortMapping on the connected service", add(wan7, 7002))
	g.SetServiceDown(wan1, false)
	mustOK(t, "AddPortMapping once up again", add(wan1, 7003))
	if s := status(wan1); s != "Connected" {
		t.Errorf("up again: status %q", s)
	}
	if n := len(g.Mappings()); n != 2 {
		t.Errorf("%d mappings, want 2 (none from the down service)", n)
	}
}
