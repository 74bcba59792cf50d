package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseMapSpec(t *testing.T) {
	tcp := []string{"tcp"}
	tests := []struct {
		in      string
		want    mapSpec
		wantErr string
	}{
		{in: "80:8080", want: mapSpec{protos: tcp, ext: 80, port: 8080}},
		{in: "udp:27015", want: mapSpec{protos: []string{"udp"}, ext: 27015, port: 27015}},
		{in: "TCP:443", want: mapSpec{protos: tcp, ext: 443, port: 443}},
		{in: "8080", want: mapSpec{protos: tcp, ext: 8080, port: 8080}},
		{in: "80:192.168.1.4:8080", want: mapSpec{protos: tcp, ext: 80, host: netip.MustParseAddr("192.168.1.4"), port: 8080}},
		{in: "udp:80:[fd00::4]:80", want: mapSpec{protos: []string{"udp"}, ext: 80, host: netip.MustParseAddr("fd00::4"), port: 80}},
		{in: "0", wantErr: "not a port"},
		{in: "65536", wantErr: "not a port"},
		{in: "+80", wantErr: "not a port"},
		{in: "0x50", wantErr: "not a port"},
		{in: "80:", wantErr: "not a port"},
		{in: "80:router.lan:80", wantErr: "HOST must be an IP"},
		{in: "sctp:80", wantErr: "not a port"},
		{in: "", wantErr: "not a port"},
	}
	for _, tt := range tests {
		got, err := parseMapSpec(tt.in, tcp)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseMapSpec(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseMapSpec(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got.protos, tt.want.protos) || got.ext != tt.want.ext || got.host != tt.want.host || got.port != tt.want.port {
			t.Errorf("parseMapSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRelaySpec(t *testing.T) {
	tests := []struct {
		in      string
		want    relaySpec
		wantErr string
	}{
		{in: ":8080=192.168.1.5:80", want: relaySpec{listen: ":8080", target: "192.168.1.5:80"}},
		{in: "8080=192.168.1.5:80", want: relaySpec{listen: ":8080", target: "192.168.1.5:80"}},
		{in: "udp::27015=192.168.1.5:27015", want: relaySpec{proto: "udp", listen: ":27015", target: "192.168.1.5:27015"}},
		{in: "tcp:127.0.0.1:0=nas.lan:443", want: relaySpec{proto: "tcp", listen: "127.0.0.1:0", target: "nas.lan:443"}},
		{in: "[::1]:53=[fd00::53]:53", want: relaySpec{listen: "[::1]:53", target: "[fd00::53]:53"}},
		{in: ":8080", wantErr: "LISTEN=TARGET"},
		{in: ":8080=192.168.1.5", wantErr: "TARGET"},
		{in: ":99999=192.168.1.5:80", wantErr: "not a port"},
		{in: "somehost:80=192.168.1.5:80", wantErr: "local IP"},
		{in: ":80=:80", wantErr: "TARGET"},
	}
	for _, tt := range tests {
		got, err := parseRelaySpec(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRelaySpec(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRelaySpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]netip.AddrPort{
		"8080":                 netip.AddrPortFrom(netip.Addr{}, 8080),
		":8080":                netip.AddrPortFrom(netip.Addr{}, 8080),
		"192.168.1.4:80":       netip.MustParseAddrPort("192.168.1.4:80"),
		"[::ffff:10.0.0.1]:22": netip.MustParseAddrPort("10.0.0.1:22"), // unmapped: routers want IPv4
	} {
		h, p, err := parseTarget(in)
		if err != nil || h != want.Addr() || p != want.Port() {
			t.Errorf("parseTarget(%q) = %v, %d, %v; want %v", in, h, p, err, want)
		}
	}
	for _, in := range []string{"[fe80::1%eth0]:80", "host:80", "1.2.3.4:0", "1.2.3.4", "[::1]"} {
		if _, _, err := parseTarget(in); err == nil {
			t.Errorf("parseTarget(%q) accepted", in)
		}
	}
}

// FuzzParseMapSpec: whatever the command line holds, the parser returns a
// usable spec or an error, never a port 0 and never a panic.
func FuzzParseMapSpec(f *testing.F) {
	for _, s := range []string{"80:8080", "udp:27015", "80:192.168.1.4:80", "udp:80:[fd00::4]:80", "tcp:", ":", "80:[::1", "65535:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMapSpec(s, []string{"tcp"})
		if err != nil {
			return
		}
		if m.ext == 0 || m.port == 0 || len(m.protos) == 0 {
			t.Fatalf("parseMapSpec(%q) = %+v: zero port or no protocol", s, m)
		}
		if m.host.IsValid() && m.host.Zone() != "" {
			t.Fatalf("parseMapSpec(%q) kept a zone: %v", s, m.host)
		}
	})
}

// FuzzParseRelaySpec: accepted specs have a listen address and target that
// net.SplitHostPort reads back.
func FuzzParseRelaySpec(f *testing.F) {
	for _, s := range []string{":8080=192.168.1.5:80", "udp::27015=192.168.1.5:27015", "[::1]:53=[fd00::53]:53", "=", "tcp:=:", "1=a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRelaySpec(s)
		if err != nil {
			return
		}
		if r.proto != "" && r.proto != "tcp" && r.proto != "udp" {
			t.Fatalf("parseRelaySpec(%q): protocol %q", s, r.proto)
		}
		if _, err := normalizeListen(r.listen); err != nil {
			t.Fatalf("parseRelaySpec(%q): listen %q does not parse again: %v", s, r.listen, err)
		}
		if err := checkTarget(r.target); err != nil {
			t.Fatalf("parseRelaySpec(%q): target %q does not parse again: %v", s, r.target, err)
		}
	})
}
