package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usagef("bad port"), exitUsage},
		{fmt.Errorf("probe: %w", errs.NoGateway), exitNoGateway},
		// Nothing answered before the deadline: "no gateway", not "timeout".
		{fmt.Errorf("%w: %w: %w", errs.NoGateway, errs.Timeout, context.DeadlineExceeded), exitNoGateway},
		{fmt.Errorf("%w: %w", errs.Timeout, context.DeadlineExceeded), exitTimeout},
		{context.DeadlineExceeded, exitTimeout},
		{&netErr{op: "map", err: errs.NotAuthorized}, exitRefused},
		{&mapErr{err: &netErr{err: errs.PortInUse}}, exitRefused},
		{errs.NoResources, exitRefused},
		{errs.NetworkFailure, exitRefused},
		{errs.NoSuchEntry, exitRefused},
		{errs.Unsupported, exitRefused},
		{errs.InvalidArgs, exitRefused},
		{syscall.EADDRINUSE, exitUsage}, // local failure, not the router
		{errors.New("something else"), exitUsage},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestExplain checks that each failure class says what happened and what to
// do, with the specifics the command knew.
func TestExplain(t *testing.T) {
	host := netip.MustParseAddr("192.168.1.4")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"no gateway", &netErr{op: "find the gateway", methods: []string{"pcp", "upnp"}, gateway: "192.168.1.1",
			elapsed: 1003 * time.Millisecond, err: errs.NoGateway},
			[]string{"no gateway answered", "pcp, upnp", "192.168.1.1", "1s", "--gateway", "--timeout"}},
		{"no gateway, defaults", &netErr{op: "find the gateway", err: errs.NoGateway, elapsed: 300 * time.Millisecond},
			[]string{"pcp, natpmp, upnp", "the default gateway", "300ms"}},
		{"secure mode", &mapErr{proto: "tcp", ext: 80, host: host, port: 80, otherHost: true, err: errs.NotAuthorized},
			[]string{"refused to map port 80 for another host, 192.168.1.4", "secure mode",
				"run upnpmap on 192.168.1.4", "upnpmap add 80 192.168.1.4:80 --relay"}},
		{"natpmp cannot map for others", &mapErr{proto: "tcp", ext: 80, host: host, port: 8080, otherHost: true, err: errs.Unsupported},
			[]string{"another host", "upnpmap add 80 192.168.1.4:8080 --relay"}},
		{"refused for us", &mapErr{proto: "tcp", ext: 80, err: errs.NotAuthorized},
			[]string{"refused", "router's settings"}},
		{"port in use", &mapErr{proto: "udp", ext: 27015, err: errs.PortInUse},
			[]string{"external port 27015/udp is already mapped", "another EXTPORT", "upnpmap list"}},
		{"timeout", &netErr{op: "delete tcp port 80", gateway: "10.0.0.1", elapsed: 2 * time.Second, err: errs.Timeout},
			[]string{"10.0.0.1 stopped answering", "delete tcp port 80", "2s", "--timeout"}},
		{"full", errs.NoResources, []string{"no room", "upnpmap delete"}},
		{"uplink", errs.NetworkFailure, []string{"Internet connection is down"}},
		{"no entry", errs.NoSuchEntry, []string{"no such mapping", "upnpmap list"}},
		{"local port busy", fmt.Errorf("listen tcp :80: %w", syscall.EADDRINUSE), []string{"in use by another program"}},
		{"privileged port", fmt.Errorf("listen tcp :80: %w", syscall.EACCES), []string{"cap_net_bind_service", "systemd"}},
	}
	for _, tt := range tests {
		msg := explain(tt.err)
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message lacks %q:\n%s", tt.name, w, msg)
			}
		}
		if strings.Count(msg, "\n") < 1 {
			t.Errorf("%s: no advice line:\n%s", tt.name, msg)
		}
	}
	// Unknown errors are passed through as they are.
	if got := explain(errors.New("disk on fire")); got != "disk on fire" {
		t.Errorf("explain(unknown) = %q", got)
	}
}

func TestPrivateExternal(t *testing.T) {
	for s, want := range map[string]bool{
		"203.0.113.7": false, "8.8.8.8": false, "2001:db8::1": false,
		"10.1.2.3": true, "192.168.0.1": true, "172.16.5.4": true, "100.64.0.1": true, "100.127.255.254": true,
		"100.128.0.1": false, "169.254.1.1": true, "0.0.0.0": true, "fd00::1": true, "::ffff:10.0.0.1": true,
	} {
		if got := isPrivateExternal(netip.MustParseAddr(s)); got != want {
			t.Errorf("isPrivateExternal(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestFormatExpiry(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.Local)
	if got := formatExpiry(time.Time{}, now); got != "never (permanent)" {
		t.Errorf("permanent: %q", got)
	}
	if got := formatExpiry(now.Add(2*time.Hour), now); got != "14:00:00 (in 2h0m0s)" {
		t.Errorf("2h: %q", got)
	}
	if got := formatExpiry(now.Add(-time.Second), now); !strings.Contains(got, "expired") {
		t.Errorf("past: %q", got)
	}
}
