package main

import (
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestAddRecordsEveryProtocol: `add --tcp --udp` records both mappings
// (written in one update after the output), each with what delete needs:
// the PCP nonce. delete then removes both from the router.
func TestAddRecordsEveryProtocol(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	e := newEnv(t)
	r := e.mustRun(append([]string{"add", "8080", "--tcp", "--udp", "-m", "pcp"}, g...)...)
	if !strings.Contains(r.stdout, "tcp ") || !strings.Contains(r.stdout, "udp ") {
		t.Fatalf("output lacks a protocol: %s", r)
	}
	s := e.readState()
	protos := map[string]bool{}
	for _, m := range s.Mappings {
		if m.External.Port() == 8080 && m.Method == "pcp" && len(m.Nonce) == 24 {
			protos[m.Protocol] = true
		}
	}
	if !protos["tcp"] || !protos["udp"] {
		t.Errorf("state records %+v; want PCP records with nonces for tcp and udp", s.Mappings)
	}
	e.mustRun(append([]string{"delete", "8080", "--tcp", "--udp"}, g...)...)
	for _, p := range []string{"tcp", "udp"} {
		if _, ok := fakeEntry(gw, p, 8080); ok {
			t.Errorf("the %s mapping is still on the router after delete", p)
		}
	}
}
