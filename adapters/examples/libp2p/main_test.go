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
