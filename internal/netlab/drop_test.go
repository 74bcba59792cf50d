//go:build linux

package netlab

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// TestBreakForward: a UPnP mapping works; BreakForward makes the WAN's
// connections die at the router (counted) while the mapping stays listed;
// deleting and re-creating the mapping (what a heal does) mends it; Remove
// is idempotent.
func TestBreakForward(t *testing.T) {
	Require(t, "upnpc")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	startGreeter(t, lab, LAN1, "192.168.77.10:18200")
	ext := lab.ExternalAddr().String() + ":18200"
	upnpc := []string{"upnpc", "-u", lab.DescURL(), "-e", "t"}
	mapIt := append(upnpc, "-a", "192.168.77.10", "18200", "18200", "TCP")
	mustExec(t, ctx, lab, LAN1, mapIt...)
	if g, err := dialGreeting(ctx, lab, WAN, ext); err != nil {
		t.Fatalf("before the break: %q, %v", g, err)
	}

	if _, err := lab.BreakForward(ctx, "tcp", 18201); err == nil {
		t.Fatal("BreakForward of a port with no mapping: no error")
	}
	brk, err := lab.BreakForward(ctx, "tcp", 18200)
	if err != nil {
		t.Fatal(err)
	}
	// dialGreeting gives up after its own bound: the SYN is dropped.
	if g, err := dialGreeting(ctx, lab, WAN, ext); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("through the broken forward: %q, %v; want a timeout", g, err)
	}
	if n, err := brk.Dropped(ctx); err != nil || n == 0 {
		t.Fatalf("Dropped = %d, %v; want the SYNs", n, err)
	}
	fw, err := lab.Forwards(ctx)
	if err != nil || len(fw) != 1 || fw[0].String() != "tcp 18200 -> 192.168.77.10:18200" {
		t.Fatalf("Forwards during the break = %v, %v; want the mapping still there", fw, err)
	}
	wantContains(t, "upnpc -l", mustExec(t, ctx, lab, LAN1, append(upnpc, "-l")...), "18200->192.168.77.10:18200")

	mustExec(t, ctx, lab, LAN1, append(upnpc, "-d", "18200", "TCP")...)
	mustExec(t, ctx, lab, LAN1, mapIt...)
	if g, err := dialGreeting(ctx, lab, WAN, ext); err != nil {
		t.Fatalf("after delete and re-create: %q, %v", g, err)
	}
	if err := brk.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := brk.Remove(ctx); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// TestDropInbound: the drop outlives a delete and re-create of the
// mapping, and Remove mends the path.
func TestDropInbound(t *testing.T) {
	Require(t, "upnpc")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	startGreeter(t, lab, LAN1, "192.168.77.10:18210")
	ext := lab.ExternalAddr().String() + ":18220"
	upnpc := []string{"upnpc", "-u", lab.DescURL(), "-e", "t"}
	mapIt := append(upnpc, "-a", "192.168.77.10", "18210", "18220", "TCP")
	mustExec(t, ctx, lab, LAN1, mapIt...)
	drop, err := lab.DropInbound(ctx, "tcp", 18210)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, lab, LAN1, append(upnpc, "-d", "18220", "TCP")...)
	mustExec(t, ctx, lab, LAN1, mapIt...)
	if g, err := dialGreeting(ctx, lab, WAN, ext); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("through the drop, after re-creating the mapping: %q, %v; want a timeout", g, err)
	}
	if n, err := drop.Dropped(ctx); err != nil || n == 0 {
		t.Fatalf("Dropped = %d, %v; want the SYNs", n, err)
	}
	if err := drop.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if g, err := dialGreeting(ctx, lab, WAN, ext); err != nil {
		t.Fatalf("after Remove: %q, %v", g, err)
	}
}
