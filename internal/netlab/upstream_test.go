//go:build linux

package netlab

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAddUpstreamNAT: a server in the Internet node sees a LAN host's
// connection come from the upstream NAT's address, not the router's; the
// node is a lab namespace like the others, and can be added only once.
func TestAddUpstreamNAT(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.AddUpstreamNAT(ctx, t); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lab.Netns(Internet), "upm-") {
		t.Fatalf("Internet node's namespace %q; want a lab namespace", lab.Netns(Internet))
	}
	startGreeter(t, lab, Internet, lab.InternetAddr().String()+":18300")
	g, err := dialGreeting(ctx, lab, LAN1, lab.InternetAddr().String()+":18300")
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello " + lab.UpstreamNATAddr().String() + ":"; !strings.HasPrefix(g, want) {
		t.Fatalf("the Internet node greeted %q; want %q…", g, want)
	}
	if err := lab.AddUpstreamNAT(ctx, t); err == nil {
		t.Fatal("a second AddUpstreamNAT: no error")
	}
}
