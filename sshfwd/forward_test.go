package sshfwd_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func TestRemoteReconnectsToTheSamePortAfterADrop(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := f.Addr()
	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("server had %d connections, want 1", n)
	}
	lost := nextEvent(t, f, sshfwd.Lost)
	if lost.Err == nil || lost.Addr != before {
		t.Errorf("Lost event = %v, want an error and address %v", lost, before)
	}
	restored := nextEvent(t, f, sshfwd.Restored)
	if restored.Addr != before || f.Addr() != before {
		t.Fatalf("restored on %v (Addr %v), want the same %v", restored.Addr, f.Addr(), before)
	}
	if got := srv.Forwards(); !slices.Equal(got, []netip.AddrPort{before}) {
		t.Fatalf("after the reconnect the server listens on %v, want [%v]", got, before)
	}
	if got := roundTrip(t, before.String(), "again"); got != "again" {
		t.Fatalf("echo after the reconnect = %q", got)
	}
	if n := srv.Requests("tcpip-forward"); n != 2 {
		t.Errorf("server saw %d tcpip-forward requests, want 2 (first and reconnect)", n)
	}
}

func TestRemoteReconnectKeepsTryingWhileTheServerRefuses(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A server that refuses the port for a while, as sshd does while a
	// silently dropped session still holds it.
	srv.SetRefuseForwards(true)
	srv.DropConnections()
	nextEvent(t, f, sshfwd.Lost)
	failed := nextEvent(t, f, sshfwd.Failed)
	if !errors.Is(failed.Err, sshfwd.ErrForwardRefused) {
		t.Fatalf("Failed event error = %v, want ErrForwardRefused", failed.Err)
	}
	srv.SetRefuseForwards(false)
	restored := nextEvent(t, f, sshfwd.Restored)
	if restored.Addr != f.Addr() {
		t.Fatalf("restored on %v, Addr() says %v", restored.Addr, f.Addr())
	}
}

func TestCloseCancelsTheForwardAndLeavesNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	target, stopTarget := newEcho(t)
	f, err := sshfwd.Remote(testContext(t), cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	addr := f.Addr()
	// A connection open through the tunnel must end with Close too.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testWait))
	buf := make([]byte, 1)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("echo before Close: %v", err)
	}
	start := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > sshfwd.DefaultCloseTimeout {
		t.Errorf("Close took %v, longer than its bound %v", d, sshfwd.DefaultCloseTimeout)
	}
	if n := srv.Requests("cancel-tcpip-forward"); n != 1 {
		t.Errorf("server saw %d cancel-tcpip-forward requests, want 1", n)
	}
	if got := srv.Forwards(); len(got) != 0 {
		t.Errorf("server still listens on %v after Close", got)
	}
	if c2, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c2.Close()
		t.Errorf("%v still accepts connections after Close", addr)
	}
	if _, err := c.Read(buf); err == nil {
		t.Error("the connection through the tunnel is still open after Close")
	}
	eventually(t, "the server sees the client leave", func() bool { return srv.Sessions() == 0 })
	if _, ok := <-f.Events(); ok {
		t.Error("Events not closed by Close")
	}
	srv.Close()
	stopTarget()
	c.Close()
	goleak.VerifyNone(t, ignore)
}

func TestConfigWithoutServerIsAnError(t *testing.T) {
	_, err := sshfwd.Remote(testContext(t), sshfwd.Config{NoAgent: true}, "127.0.0.1:80")
	if !errors.Is(err, sshfwd.ErrBadTarget) {
		t.Fatalf("err = %v, want ErrBadTarget (never a default server)", err)
	}
}
