package sshfwd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

func writeKnownHosts(t *testing.T, cfg *sshfwd.Config, lines ...string) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.KnownHosts = []string{kh}
}

func TestUnknownHostErrorNamesFingerprintAndLine(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	writeKnownHosts(t, &cfg, "# nothing known yet")
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err == nil {
		f.Close()
		t.Fatal("connected to a server whose key is in no known_hosts")
	}
	if !errors.Is(err, sshfwd.ErrUnknownHost) {
		t.Fatalf("err = %v, want ErrUnknownHost", err)
	}
	var hk *sshfwd.HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("err is %T, want *HostKeyError", err)
	}
	fp := ssh.FingerprintSHA256(srv.HostKey())
	line := srv.KnownHostsLine()
	if hk.Fingerprint != fp || hk.Line != line {
		t.Errorf("HostKeyError = %+v, want fingerprint %s and line %q", hk, fp, line)
	}
	wantHost := "[" + srv.Addr().Addr().String() + "]:" + strings.TrimPrefix(srv.Addr().String(), srv.Addr().Addr().String()+":")
	if !strings.HasPrefix(line, wantHost+" ssh-ed25519 AAAA") {
		t.Errorf("line %q does not start with %q and the key", line, wantHost)
	}
	msg := err.Error()
	for _, want := range []string{fp, line, cfg.KnownHosts[0]} {
		if !strings.Contains(msg, want) {
			t.Errorf("error text lacks %q:\n%s", want, msg)
		}
	}
	if srv.Requests("tcpip-forward") != 0 {
		t.Error("a forward was requested from an unverified server")
	}
}

func TestMissingKnownHostsFileIsAnUnknownHost(t *testing.T) {
	_, cfg := setup(t, gatewaytest.SSHConfig{})
	cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "absent")}
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrUnknownHost) {
		t.Fatalf("err = %v, want ErrUnknownHost", err)
	}
}

func TestChangedHostKeyIsRefusedWithTheNewFingerprint(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	if err := srv.ChangeHostKey(); err != nil {
		t.Fatal(err)
	}
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err == nil {
		f.Close()
		t.Fatal("connected although the host key changed")
	}
	if !errors.Is(err, sshfwd.ErrHostKeyChanged) {
		t.Fatalf("err = %v, want ErrHostKeyChanged", err)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(srv.HostKey()), srv.KnownHostsLine(), cfg.KnownHosts[0] + ":1", "ssh-keygen -R"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error text lacks %q:\n%s", want, msg)
		}
	}
}

func TestChangedHostKeyOnReconnectIsNeverAccepted(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := srv.ChangeHostKey(); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	nextEvent(t, f, sshfwd.Lost)
	ev := nextEvent(t, f, sshfwd.Failed)
	if !errors.Is(ev.Err, sshfwd.ErrHostKeyChanged) {
		t.Fatalf("reconnection failed with %v, want ErrHostKeyChanged", ev.Err)
	}
	if srv.Requests("tcpip-forward") != 1 {
		t.Error("a forward was requested from the server with the changed key")
	}
}

func TestHashedKnownHostsEntryIsAccepted(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	hashed := knownhosts.HashHostname(knownhosts.Normalize(srv.Addr().String()))
	writeKnownHosts(t, &cfg, hashed+" "+strings.SplitN(srv.KnownHostsLine(), " ", 2)[1])
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatalf("hashed known_hosts entry not accepted: %v", err)
	}
	f.Close()
}

func TestRevokedHostKeyIsRefused(t *testing.T) {
	srv, cfg := setup(t, gatewaytest.SSHConfig{})
	key := strings.SplitN(srv.KnownHostsLine(), " ", 2)[1]
	writeKnownHosts(t, &cfg, srv.KnownHostsLine(), "@revoked * "+key)
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrHostKeyRevoked) {
		t.Fatalf("err = %v, want ErrHostKeyRevoked", err)
	}
}
