package sshfwd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func TestKeepalivesAreSent(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	cfg.KeepaliveInterval = 20 * time.Millisecond
	// Generous, so that a server slowed down by a busy machine is not
	// taken for dead: this test is about keepalives being sent and answered.
	cfg.KeepaliveCountMax = 500
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eventually(t, "three keepalives", func() bool { return srv.Requests("keepalive@openssh.com") >= 3 })
	// The server answers them (with failure, as sshd does): no Lost.
	select {
	case ev := <-f.Events():
		t.Fatalf("unexpected event %v", ev)
	default:
	}
}

func TestSilentServerIsDetectedByKeepalivesAndTheHeldPortIsRetried(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	cfg.KeepaliveInterval = 20 * time.Millisecond
	cfg.KeepaliveCountMax = 3
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := f.Addr()
	srv.FreezeConnections()
	if lost := nextEvent(t, f, sshfwd.Lost); !errors.Is(lost.Err, sshfwd.ErrKeepalive) {
		t.Fatalf("Lost because of %v, want ErrKeepalive", lost.Err)
	}
	// The frozen session still holds the port: reconnections are refused.
	ev := nextEvent(t, f, sshfwd.Failed)
	if !errors.Is(ev.Err, sshfwd.ErrPortHeld) || !errors.Is(ev.Err, sshfwd.ErrForwardRefused) {
		t.Fatalf("Failed with %v, want ErrPortHeld", ev.Err)
	}
	// The server times the stale session out; the port comes back.
	srv.DropConnections()
	nextEvent(t, f, sshfwd.Restored)
	if f.Addr() != before {
		t.Fatalf("restored on %v, want %v", f.Addr(), before)
	}
	if got := roundTrip(t, before.String(), "back"); got != "back" {
		t.Fatalf("echo after restore = %q", got)
	}
}
