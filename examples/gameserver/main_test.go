package main

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"go.uber.org/goleak"
)

// TestMain checks that nothing the example started outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGameserver: the UDP port is mapped while the server runs, datagrams
// are echoed, and the mapping goes when the server stops.
func TestGameserver(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	// A UDP port that was free a moment ago.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, port, gw.Addr().String(), time.Hour) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no mapping appeared on the router")
		}
		if m := gw.Mappings(); len(m) == 1 && m[0].Protocol == "UDP" && m[0].InternalPort == port {
			break
		}
	}
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("echo: %q, %v", buf[:n], err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Errorf("the mapping outlived the server: %+v", m)
	}
}
