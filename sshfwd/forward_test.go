package sshfwd_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func TestRemoteForwardCarriesDataBothWays(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := f.Addr()
	if addr.Addr() != srv.Addr().Addr() || addr.Port() == 0 {
		t.Fatalf("Addr() = %v, want the server's address %v and a port", addr, srv.Addr().Addr())
	}
	if got := srv.Forwards(); !slices.Equal(got, []netip.AddrPort{addr}) {
		t.Fatalf("server listens on %v, want [%v]", got, addr)
	}
	msg := strings.Repeat("through the tunnel ", 10000)
	if got := roundTrip(t, addr.String(), msg); got != msg {
		t.Fatalf("echo through the forward returned %d bytes, want %d", len(got), len(msg))
	}
}

func TestRemoteForwardAsksForTheGivenPort(t *testing.T) {
	_, cfg := setup(t, gatewaytest.SSHConfig{})
	// Find a free port on loopback, then ask the server for it.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cfg.RemotePort = port
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Addr().Port() != port {
		t.Fatalf("forward on port %d, asked for %d", f.Addr().Port(), port)
	}
}

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

func TestRemoteRefusedForwardIsATypedError(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{RefuseForwards: true})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err == nil {
		f.Close()
		t.Fatal("Remote succeeded against a server that refuses forwards")
	}
	if !errors.Is(err, sshfwd.ErrForwardRefused) || !errors.Is(err, errs.Refused) {
		t.Fatalf("err = %v, want ErrForwardRefused and errs.Refused", err)
	}
	eventually(t, "the refused client disconnects", func() bool { return srv.Sessions() == 0 })
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

func TestGatewayPortsOffIsDetected(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{LoopbackOnly: true})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err == nil {
		f.Close()
		t.Fatal("Remote succeeded although the server bound the forward to loopback only")
	}
	if !errors.Is(err, sshfwd.ErrLoopbackOnly) {
		t.Fatalf("err = %v, want ErrLoopbackOnly", err)
	}
	if !strings.Contains(err.Error(), "GatewayPorts clientspecified") {
		t.Errorf("error does not name the sshd_config line: %v", err)
	}
	eventually(t, "the loopback-only forward is cancelled", func() bool { return len(srv.Forwards()) == 0 })
}

func TestGatewayPortsCheckPassesAndTheTargetSeesNoProbe(t *testing.T) {
	_, cfg := setup(t, gatewaytest.SSHConfig{})
	accepted := make(chan struct{}, 10)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	f, err := sshfwd.Remote(testContext(t), cfg, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := len(accepted); n != 0 {
		t.Fatalf("the target got %d connections from the check, want none", n)
	}
}

func TestLoopbackBindSkipsTheCheck(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{LoopbackOnly: true})
	cfg.BindAddress = "localhost"
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatalf("a loopback forward asked for is no error: %v", err)
	}
	defer f.Close()
	if got := srv.Forwards(); len(got) != 1 || !got[0].Addr().IsLoopback() {
		t.Fatalf("server listens on %v", got)
	}
}

func TestKeepalivesAreSent(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	cfg.KeepaliveInterval = 20 * time.Millisecond
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
	srv.DropConnections()
	nextEvent(t, f, sshfwd.Restored)
	if got := roundTrip(t, f.Addr().String(), "after"); got != "after" {
		t.Fatalf("echo after the reconnect = %q", got)
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

func TestDeadTargetFailsOneConnectionNotTheForward(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(t), cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testWait))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection to a dead target: read %d, %v; want it closed at once", n, err)
	}
	c.Close()
	if got := srv.Forwards(); !slices.Equal(got, []netip.AddrPort{f.Addr()}) {
		t.Fatalf("after a failed connection the server listens on %v, want [%v]", got, f.Addr())
	}
	select {
	case ev := <-f.Events():
		t.Fatalf("a dead target caused event %v", ev)
	default:
	}
}

func TestConfigWithoutServerIsAnError(t *testing.T) {
	_, err := sshfwd.Remote(testContext(t), sshfwd.Config{NoAgent: true}, "127.0.0.1:80")
	if !errors.Is(err, sshfwd.ErrBadTarget) {
		t.Fatalf("err = %v, want ErrBadTarget (never a default server)", err)
	}
}
