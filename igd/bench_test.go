package igd

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAddPortMapping measures one AddPortMapping round trip (envelope,
// a fresh loopback TCP connection, the reply parsed) against an httptest
// server. Each call dials anew: the client sends Connection: close by design.
func BenchmarkAddPortMapping(b *testing.B) {
	f := newFake(b, func(action, _ string) answer { return okReply(ServiceWANIP2, action) })
	c := f.client(ServiceWANIP2)
	m := PortMapping{ExternalPort: 8080, Protocol: TCP, InternalPort: 8080, InternalClient: "192.168.1.20",
		Enabled: true, Description: "bench", LeaseDuration: time.Hour}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.AddPortMapping(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResponse measures parsing a GetGenericPortMappingEntry reply.
func BenchmarkParseResponse(b *testing.B) {
	body := []byte(okReply(ServiceWANIP1, "GetGenericPortMappingEntry",
		"NewRemoteHost", "", "NewExternalPort", "443", "NewProtocol", "TCP", "NewInternalPort", "8443",
		"NewInternalClient", "10.0.0.3", "NewEnabled", "1", "NewPortMappingDescription", "desc",
		"NewLeaseDuration", "3600").body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := parseSOAP(body, "GetGenericPortMappingEntry"); err != nil {
			b.Fatal(err)
		}
	}
}
