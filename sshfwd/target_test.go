package sshfwd_test

import (
	"errors"
	"testing"

	"github.com/upnpmap/upnpmap/sshfwd"
)

func TestParseTarget(t *testing.T) {
	good := []struct {
		in   string
		want sshfwd.Target
		addr string
	}{
		{"ssh://me@example.net", sshfwd.Target{User: "me", Host: "example.net"}, "example.net:22"},
		{"ssh://me@example.net:2222", sshfwd.Target{User: "me", Host: "example.net", Port: 2222}, "example.net:2222"},
		{"ssh://me@example.net/", sshfwd.Target{User: "me", Host: "example.net"}, "example.net:22"},
		{"SSH://example.net", sshfwd.Target{Host: "example.net"}, "example.net:22"},
		{"me@192.0.2.7:22", sshfwd.Target{User: "me", Host: "192.0.2.7", Port: 22}, "192.0.2.7:22"},
		{"ssh://me@[2001:db8::1]:2200", sshfwd.Target{User: "me", Host: "2001:db8::1", Port: 2200}, "[2001:db8::1]:2200"},
		{"[2001:db8::1]", sshfwd.Target{Host: "2001:db8::1"}, "[2001:db8::1]:22"},
		{"first.last@host", sshfwd.Target{User: "first.last", Host: "host"}, "host:22"},
	}
	for _, g := range good {
		got, err := sshfwd.ParseTarget(g.in)
		if err != nil || got != g.want || got.Addr() != g.addr {
			t.Errorf("ParseTarget(%q) = %+v (Addr %q), %v; want %+v, %q", g.in, got, got.Addr(), err, g.want, g.addr)
		}
	}
	bad := []string{
		"", "ssh://", "http://me@host", "ssh://@host", "ssh://me@", "ssh://me@host:", "ssh://me@host:0",
		"ssh://me@host:65536", "ssh://me@host:x", "ssh://me:pw@host", "ssh://me@2001:db8::1",
		"ssh://me@[2001:db8::1", "ssh://me@[host]:22", "ssh://me@[::1]x", "ssh://me@-oProxyCommand=x",
		"ssh://me@ho st", "ssh://me@host/path", "ssh://m e@host", "ssh://me\x00@host",
	}
	for _, in := range bad {
		if got, err := sshfwd.ParseTarget(in); !errors.Is(err, sshfwd.ErrBadTarget) {
			t.Errorf("ParseTarget(%q) = %+v, %v; want ErrBadTarget", in, got, err)
		}
	}
}

func TestTargetStringParsesBack(t *testing.T) {
	for _, in := range []string{"ssh://me@example.net", "ssh://me@[2001:db8::1]:2200", "ssh://host:2022"} {
		tg, err := sshfwd.ParseTarget(in)
		if err != nil {
			t.Fatal(err)
		}
		if tg.String() != in {
			t.Errorf("ParseTarget(%q).String() = %q", in, tg.String())
		}
	}
}
