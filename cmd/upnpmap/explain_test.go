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

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/internal/udpx"
	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usagef("bad port"), exitUsage},
		{fmt.Errorf("probe: %w", upnpmap.ErrNoGateway), exitNoGateway},
		// Nothing answered before the deadline: "no gateway", not "timeout".
		{fmt.Errorf("%w: %w: %w", upnpmap.ErrNoGateway, upnpmap.ErrTimeout, context.DeadlineExceeded), exitNoGateway},
		{fmt.Errorf("%w: %w", upnpmap.ErrTimeout, context.DeadlineExceeded), exitTimeout},
		{context.DeadlineExceeded, exitTimeout},
		{&netErr{op: "map", err: upnpmap.ErrNotAuthorized}, exitRefused},
		{&mapErr{err: &netErr{err: upnpmap.ErrPortInUse}}, exitRefused},
		{upnpmap.ErrNoResources, exitRefused},
		{upnpmap.ErrNetworkFailure, exitRefused},
		{upnpmap.ErrNoSuchEntry, exitRefused},
		{upnpmap.ErrUnsupported, exitRefused},
		{upnpmap.ErrInvalidArgs, exitRefused},
		{syscall.EADDRINUSE, exitUsage}, // local failure, not the router
		// A definite refusal wins over another method's silence.
		{errors.Join(fmt.Errorf("pcp: %w", upnpmap.ErrTimeout), &igd.UPnPError{Action: "AddPortMapping", Code: 718}), exitRefused},
		{fmt.Errorf("%w: %w", upnpmap.ErrNoGateway, errors.Join(upnpmap.ErrTimeout, &natpmp.ResultError{Op: 1, Code: 77})), exitRefused},
		{&pcp.ResultError{Opcode: pcp.OpMap, Code: 200}, exitRefused},
		{&igd.UPnPError{Action: "AddPortMapping", Code: 899}, exitRefused},
		{pcp.ErrAddressMismatch, exitRefused},
		// A closed port (ICMP) is not an answer, nor is "I speak the other
		// protocol".
		{fmt.Errorf("%w: %w", upnpmap.ErrNoGateway, fmt.Errorf("natpmp: closed: %w: %w", upnpmap.ErrUnsupported,
			fmt.Errorf("%w: %w", udpx.ErrRefused, syscall.ECONNREFUSED))), exitNoGateway},
		{errors.Join(fmt.Errorf("pcp: %w", pcp.ErrSpeaksNATPMP), fmt.Errorf("natpmp: %w", upnpmap.ErrTimeout)), exitTimeout},
		// An unusable device is its own class, above silence.
		{fmt.Errorf("%w: %w", upnpmap.ErrNoGateway, errors.Join(upnpmap.ErrTimeout, upnpmap.ErrUnusableDevice)), exitUnusable},
		// Silence after the router answered is a timeout.
		{&netErr{answered: []string{"natpmp"}, err: fmt.Errorf("%w: %w", upnpmap.ErrNoGateway, upnpmap.ErrTimeout)}, exitTimeout},
		{&missingRecordErr{proto: "tcp", ext: 80, methods: []string{"pcp"}}, exitUsage},
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
			elapsed: 1003 * time.Millisecond, err: upnpmap.ErrNoGateway},
			[]string{"no gateway answered", "pcp, upnp", "192.168.1.1", "1s", "check that 192.168.1.1 is the router's address", "--interface NAME", "--timeout"}},
		{"no gateway, defaults", &netErr{op: "find the gateway", err: upnpmap.ErrNoGateway, elapsed: 300 * time.Millisecond},
			[]string{"pcp, natpmp, upnp", "the default gateway", "300ms", "--gateway IP"}},
		{"secure mode", &mapErr{proto: "tcp", ext: 80, host: host, port: 80, otherHost: true, err: upnpmap.ErrNotAuthorized},
			[]string{"refused to map port 80 for another host, 192.168.1.4", "secure mode",
				"run upnpmap on 192.168.1.4", "upnpmap add 80 192.168.1.4:80 --relay"}},
		{"natpmp cannot map for others", &mapErr{proto: "tcp", ext: 80, host: host, port: 8080, otherHost: true, err: upnpmap.ErrUnsupported},
			[]string{"another host", "upnpmap add 80 192.168.1.4:8080 --relay"}},
		{"refused for us", &mapErr{proto: "tcp", ext: 80, err: upnpmap.ErrNotAuthorized},
			[]string{"refused", "router's settings"}},
		{"port in use", &mapErr{proto: "udp", ext: 27015, err: upnpmap.ErrPortInUse},
			[]string{"external port 27015/udp is already mapped", "another EXTPORT", "upnpmap list"}},
		{"timeout", &netErr{op: "delete tcp port 80", gateway: "10.0.0.1", elapsed: 2 * time.Second, err: upnpmap.ErrTimeout},
			[]string{"10.0.0.1 stopped answering", "delete tcp port 80", "2s", "--timeout"}},
		{"full", upnpmap.ErrNoResources, []string{"no room", "upnpmap delete"}},
		{"uplink", upnpmap.ErrNetworkFailure, []string{"Internet connection is down"}},
		{"no entry", upnpmap.ErrNoSuchEntry, []string{"no such mapping", "upnpmap list"}},
		{"local port busy", fmt.Errorf("listen tcp :80: %w", syscall.EADDRINUSE), []string{"in use by another program"}},
		{"privileged port", fmt.Errorf("listen tcp :80: %w", syscall.EACCES), []string{"cap_net_bind_service", "systemd"}},
		{"unusable device", &netErr{op: "find the gateway", gateway: "10.0.0.1", err: fmt.Errorf("%w: it offers only urn:x:service:Foo:1", upnpmap.ErrUnusableDevice)},
			[]string{"a UPnP device answered at 10.0.0.1, but it cannot map ports", "--method pcp", "urn:x:service:Foo:1"}},
		{"invalid args, high port", &mapErr{proto: "tcp", ext: 8080, err: upnpmap.ErrInvalidArgs}, []string{"rejected the request's arguments"}},
		{"invalid args, low port", &mapErr{proto: "tcp", ext: 80, err: upnpmap.ErrInvalidArgs}, []string{"below 1024"}},
		{"unknown PCP code", &pcp.ResultError{Opcode: pcp.OpMap, Code: 99}, []string{"PCP result code 99"}},
		{"router text", &igd.UPnPError{Action: "AddPortMapping", Code: 718, Description: "x\u202ey\u001b[31m" + strings.Repeat("z", 5000)},
			[]string{"already mapped", "xy[31m"}},
	}
	for _, tt := range tests {
		msg := explain(tt.err)
		if strings.ContainsAny(msg, "\u202e\u001b") || len(msg) > 2000 {
			t.Errorf("%s: router text not cleaned or capped: %.300q", tt.name, msg)
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message lacks %q:\n%s", tt.name, w, msg)
			}
		}
		if strings.Count(msg, "\n") < 1 {
			t.Errorf("%s: no advice line:\n%s", tt.name, msg)
		}
	}
	// A gateway given by address is not advised to be given (issue 19 item 3).
	if msg := explain(&netErr{op: "find the gateway", gateway: "192.168.1.1", err: upnpmap.ErrNoGateway}); strings.Contains(msg, "--gateway") {
		t.Errorf("no gateway at a given address: the advice asks for --gateway:\n%s", msg)
	}
	if msg := explain(&mapErr{proto: "tcp", ext: 8080, err: upnpmap.ErrInvalidArgs}); strings.Contains(msg, "below 1024") {
		t.Errorf("port 8080 blamed on ports below 1024:\n%s", msg)
	}
	// Advice fits the command: InvalidArgs on a delete blames no port range.
	if msg := explainFor("delete", &mapErr{proto: "tcp", ext: 80, err: upnpmap.ErrInvalidArgs}).fix; strings.Contains(strings.Join(msg, " "), "1024") {
		t.Errorf("delete advice mentions ports below 1024: %q", msg)
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
