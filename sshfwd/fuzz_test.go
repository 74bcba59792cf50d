package sshfwd

import (
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzParseTarget: no input panics, and what parses prints back to itself.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"ssh://me@example.net:2222", "me@[2001:db8::1]", "host", "ssh://@", "ssh://me@[::1]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Host == "" {
			t.Fatalf("ParseTarget(%q) succeeded with no host", s)
		}
		again, err := ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("ParseTarget(%q) = %+v, but its String %q parses to %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}

// FuzzParseForwarded: a forwarded-tcpip channel's extra data comes from the
// server; nothing in it may panic, and accepted ports are in range.
func FuzzParseForwarded(f *testing.F) {
	f.Add(ssh.Marshal(&forwardedMsg{"", 8080, "192.0.2.1", 40000}))
	f.Add(ssh.Marshal(&forwardedMsg{"0.0.0.0", 70000, "x", 1}))
	f.Add([]byte{0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseForwarded(b)
		if err != nil {
			return
		}
		if m.Port == 0 || m.Port > 65535 || m.OriginPort > 65535 {
			t.Fatalf("accepted out-of-range ports: %+v", m)
		}
	})
}

// FuzzParseForwardReply: the server's reply to a tcpip-forward for any port
// names the port it chose; nothing in it may panic, a port it accepts is
// 1-65535, and an error quotes a bounded part of the reply.
func FuzzParseForwardReply(f *testing.F) {
	f.Add(ssh.Marshal(&struct{ Port uint32 }{40000}))
	f.Add(ssh.Marshal(&struct{ Port uint32 }{0}))
	f.Add(ssh.Marshal(&struct{ Port uint32 }{70000}))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		port, err := parseForwardReply(b)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes for a %d-byte reply", len(err.Error()), len(b))
			}
			return
		}
		if port == 0 {
			t.Fatal("accepted port 0")
		}
	})
}
