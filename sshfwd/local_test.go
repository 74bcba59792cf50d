package sshfwd_test

import (
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func TestLocalForwardReachesTheTargetThroughTheServer(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Local(testContext(t), cfg, "127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := roundTrip(t, f.Addr().String(), "local"); got != "local" {
		t.Fatalf("echo through the local forward = %q", got)
	}
	// The target was dialed by the server (a direct-tcpip channel), not
	// from here.
	if n := srv.Channels("direct-tcpip"); n != 1 {
		t.Fatalf("the server opened %d direct-tcpip channels for one connection, want 1", n)
	}
	srv.DropConnections()
	nextEvent(t, f, sshfwd.Restored)
	if got := roundTrip(t, f.Addr().String(), "after"); got != "after" {
		t.Fatalf("echo after the reconnect = %q", got)
	}
	if n := srv.Channels("direct-tcpip"); n != 2 {
		t.Fatalf("the server opened %d direct-tcpip channels for two connections, want 2", n)
	}
}
