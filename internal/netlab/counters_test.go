//go:build linux

package netlab

import (
	"context"
	"testing"
	"time"
)

// TestLabCountPackets sends three datagrams from a LAN host to the router
// and one to another port: the counter that matches the first port must
// say 3, and the router, killed with KillRouter, must be gone at once
// (RouterPID 0, process reaped) with Close still clean.
func TestLabCountPackets(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.CountPackets(ctx, "discard", "udp dport 9"); err != nil {
		t.Fatal(err)
	}
	if n, err := lab.Packets(ctx, "discard"); err != nil || n != 0 {
		t.Fatalf("fresh counter: %d, %v; want 0", n, err)
	}
	for _, port := range []string{"9", "9", "10", "9"} {
		c, err := lab.Dial(ctx, LAN1, "udp4", lab.Gateway().String()+":"+port)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("count me")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n, err := lab.Packets(ctx, "discard"); err != nil || n != 3 {
		t.Fatalf("counter after three datagrams to port 9 and one to port 10: %d, %v; want 3", n, err)
	}
	if _, err := lab.Packets(ctx, "nosuch"); err == nil {
		t.Fatal("Packets of a counter never made: no error")
	}

	pid := lab.RouterPID()
	if err := lab.KillRouter(); err != nil {
		t.Fatal(err)
	}
	if lab.RouterPID() != 0 || processAlive(pid) {
		t.Fatalf("after KillRouter: RouterPID %d, pid %d alive %v", lab.RouterPID(), pid, processAlive(pid))
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckClean(); err != nil {
		t.Fatal(err)
	}
}
