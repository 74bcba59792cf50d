//go:build linux

package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// liveMapping is a client process holding one mapping, and its echo server.
type liveMapping struct {
	method string
	port   uint16
	p      *proc
	ext    netip.AddrPort
}

// startMappings maps one TCP port per method from LAN1 (gateway from the
// routing table, default lifetime, UPnP checked every second), each in its
// own client process, and checks that each is reachable.
func startMappings(t *testing.T, ctx context.Context, lab *netlab.Lab, base uint16) []*liveMapping {
	t.Helper()
	var maps []*liveMapping
	for i, method := range []string{"pcp", "natpmp", "upnp"} {
		m := &liveMapping{method: method, port: base + uint16(i)}
		startEcho(t, lab, netlab.LAN1, "tcp", lanAddr(lab, netlab.LAN1, m.port))
		m.p = startClient(t, ctx, lab, netlab.LAN1, method, "map", "-methods", method,
			"-port", strconv.Itoa(int(m.port)), "-poll", "1s", "-desc", "labtest "+method)
		maps = append(maps, m)
	}
	for _, m := range maps {
		m.ext = parseAddrPort(t, "External()", m.p.mapped(15*time.Second).External)
		wantReachable(t, ctx, lab, "tcp", m.ext, netlab.LAN1)
	}
	return maps
}

// TestRouterRestart: the router reboots (miniupnpd restarts with an empty
// table, a new epoch and a new HTTP port); for each method the library
// notices, re-creates the mapping and the port is reachable from the WAN
// again within a bounded time, which is logged.
func TestRouterRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	maps := startMappings(t, ctx, lab, 24000)
	// A real reboot comes long after the mappings were made. The NAT-PMP and
	// PCP epoch check (RFC 6886 §3.6, RFC 6887 §8.5) can only tell a reboot
	// from clock jitter once a few seconds have passed (it allows 1/8 of the
	// elapsed time plus 2 s), and this lab reboots in milliseconds: let the
	// mappings age first.
	time.Sleep(4 * time.Second)

	oldPort := lab.HTTPPort()
	start := time.Now()
	if err := lab.RestartRouter(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Since(start)
	if lab.HTTPPort() == oldPort {
		t.Fatalf("the router's HTTP port stayed %d", oldPort)
	}

	// Measured from the restart's start: a reboot takes the mappings away at
	// once, and the clients may already be restoring them while the daemon
	// comes up.
	const bound = 20 * time.Second
	var wg sync.WaitGroup
	took := make([]time.Duration, len(maps))
	errs := make([]error, len(maps))
	for i, m := range maps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r probeResult
			r, _, errs[i] = waitReachable(ctx, lab, "tcp", m.ext, bound)
			took[i] = time.Since(start)
			if errs[i] == nil && r.server != string(netlab.LAN1) {
				errs[i] = fmt.Errorf("answered by %s", r.server)
			}
		}()
	}
	wg.Wait()
	var parts []string
	for i, m := range maps {
		if errs[i] != nil {
			t.Errorf("%s: %v", m.method, errs[i])
			parts = append(parts, fmt.Sprintf("%s NOT within %v", m.method, bound))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %v", m.method, took[i].Round(time.Millisecond)))
	}
	summary := fmt.Sprintf("router restart (daemon back after %v); reachable again after: %s",
		restarted.Round(time.Millisecond), strings.Join(parts, ", "))
	t.Log(summary)
	fmt.Println("labtest:", summary)
	if t.Failed() {
		return
	}
	// The library says what happened: the mapping was lost and restored.
	for _, m := range maps {
		m.p.next(5*time.Second, "a Restored event", isEvent("Restored"))
		if n := m.p.events("Lost"); n == 0 {
			t.Errorf("%s: Restored without a Lost event (messages: %s)", m.method, m.p.dump())
		}
	}
}

// TestExternalAddressChange: the router's WAN address changes from 1.2.3.4
// to 1.2.3.5; every method's mapping reports it (an ExternalAddressChanged
// event, and External()), and is reachable on the new address.
func TestExternalAddressChange(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	lab := newLab(t, ctx, netlab.Options{})
	maps := startMappings(t, ctx, lab, 25000)

	newAddr := netip.MustParseAddr("1.2.3.5")
	start := time.Now()
	if err := lab.ChangeWANAddr(ctx, newAddr); err != nil {
		t.Fatal(err)
	}
	t.Logf("WAN address changed in %v", time.Since(start).Round(time.Millisecond))
	for _, m := range maps {
		want := netip.AddrPortFrom(newAddr, m.ext.Port())
		ev := m.p.next(15*time.Second, "an ExternalAddressChanged event", isEvent("ExternalAddressChanged"))
		if ev.External != want.String() {
			t.Errorf("%s: ExternalAddressChanged to %s; want %v", m.method, ev.External, want)
		}
		t.Logf("%s: ExternalAddressChanged %s after %v", m.method, ev.External, time.Since(start).Round(time.Millisecond))
		m.p.send("external")
		if got := m.p.next(5*time.Second, "External()", isType("external")); got.External != want.String() {
			t.Errorf("%s: External() = %s; want %v", m.method, got.External, want)
		}
		wantReachable(t, ctx, lab, "tcp", want, netlab.LAN1)
	}
}
