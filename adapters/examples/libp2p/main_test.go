package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

func TestPrintsExternalAddresses(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, []string{"--gateway", gw.Addr().String()}, &out); err != nil {
		t.Fatalf("%v; output:\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{
		"peer ",
		fmt.Sprintf("external /ip4/%s/tcp/", gatewaytest.DefaultExternalAddr),
		fmt.Sprintf("external /ip4/%s/udp/", gatewaytest.DefaultExternalAddr),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Fatalf("router holds %+v after the program ended, want nothing", ms)
	}
}

func TestGatewayRequired(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), nil, &out)
	if err == nil || !strings.Contains(err.Error(), "--gateway is required") {
		t.Fatalf("run without --gateway: %v, want it to refuse", err)
	}
}

// IPv6 listen addresses are announced with the pinholes' address.
func TestPrintsPinholeAddresses(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{IPv6: true})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out strings.Builder
	args := []string{
		"--gateway", gw.Addr().String(),
		"--location6", gw.LocationURL6(), "--host6", gatewaytest.DefaultIPv6Host.String(),
		"--listen", "/ip4/0.0.0.0/tcp/0,/ip6/::/tcp/0,/ip6/::/udp/0/quic-v1",
	}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("%v; output:\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{
		fmt.Sprintf("external /ip4/%s/tcp/", gatewaytest.DefaultExternalAddr),
		fmt.Sprintf("external /ip6/%s/tcp/", gatewaytest.DefaultIPv6Host),
		fmt.Sprintf("external /ip6/%s/udp/", gatewaytest.DefaultIPv6Host),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
		t.Fatalf("router holds pinholes %+v and mappings %+v after the program ended, want nothing", ps, ms)
	}
}

func TestBadHost6(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"--gateway", "127.0.0.1", "--host6", "192.0.2.1"}, &out)
	if err == nil || !strings.Contains(err.Error(), "--host6") {
		t.Fatalf("run with an IPv4 --host6: %v, want it to refuse", err)
	}
}
