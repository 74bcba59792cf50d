package sshfwd_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

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
