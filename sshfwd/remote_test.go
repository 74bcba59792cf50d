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
