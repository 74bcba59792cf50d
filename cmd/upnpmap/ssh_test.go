package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// sshWait bounds each wait in the --via tests.
const sshWait = 20 * time.Second

// sshFixture starts the fake SSH server and writes, in a fresh directory,
// the key it accepts (--ssh-key) and a known_hosts file that holds its host
// key (--known-hosts).
func sshFixture(t *testing.T, sc gatewaytest.SSHConfig) (srv *gatewaytest.SSHServer, keyFile, knownHosts string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sc.AuthorizedKeys = append(sc.AuthorizedKeys, signer.PublicKey())
	srv = gatewaytest.NewSSH(t, sc)
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "id_ed25519")
	knownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, keyFile, knownHosts
}

// helloServer answers each connection with "hello" and returns its port.
func helloServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func readHello(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, sshWait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(sshWait))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestAddViaSSH: behind a router that refuses every mapping (its table is
// full), `add PORT --via` forwards the port through the SSH server, stays
// in the foreground, shows the tunnel in --json and in `list`, and closes
// it on the server at Ctrl-C.
func TestAddViaSSH(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{MaxMappings: 1})
	gw.AddMapping(gatewaytest.Mapping{ExternalPort: 1, InternalPort: 1})
	srv, key, kh := sshFixture(t, gatewaytest.SSHConfig{})
	port := helloServer(t)
	e := newEnv(t)
	via := "ssh://tester@" + srv.Addr().String()
	p := e.start("add", port, "--via", via, "--ssh-key", key, "--known-hosts", kh,
		"--gateway", gw.Addr().String(), "--json")
	m := p.waitEvent("mapped", sshWait)
	want := net.JoinHostPort(srv.Addr().Addr().String(), port)
	if m["method"] != "ssh" || m["external"] != want {
		t.Fatalf("mapped event %v, want method ssh at %s", m, want)
	}
	if got := readHello(t, want); got != "hello" {
		t.Errorf("through the tunnel: %q, want hello", got)
	}
	list := e.mustRun("list", "--gateway", gw.Addr().String(), "--json")
	found := false
	for _, r := range jsonLines(t, list.stdout) {
		found = found || (r["method"] == "ssh" && r["external"] == want && r["ours"] == true)
	}
	if !found {
		t.Errorf("list does not show the tunnel %s:\n%s\nstate: %+v", want, list.stdout, e.readState().Mappings)
	}
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if f := srv.Forwards(); len(f) != 0 {
		t.Errorf("the server still forwards %v after Ctrl-C", f)
	}
	for _, r := range e.readState().Mappings {
		if r.Method == "ssh" {
			t.Errorf("state file still records the closed tunnel %+v", r)
		}
	}
}

// TestAddViaSSHUnknownHost: a server whose key is not in --known-hosts is
// refused, and the error gives the fingerprint and the line to add.
func TestAddViaSSHUnknownHost(t *testing.T) {
	srv, key, _ := sshFixture(t, gatewaytest.SSHConfig{})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	e := newEnv(t)
	r := e.run("add", "8080", "--method", "ssh", "--via", "ssh://tester@"+srv.Addr().String(),
		"--ssh-key", key, "--known-hosts", empty)
	if r.code == 0 {
		t.Fatalf("add succeeded with an unknown host key:\n%s", r)
	}
	if !strings.Contains(r.stderr, ssh.FingerprintSHA256(srv.HostKey())) || !strings.Contains(r.stderr, srv.KnownHostsLine()) {
		t.Errorf("stderr lacks the fingerprint or the known_hosts line:\n%s", r.stderr)
	}
	if n := srv.Requests("tcpip-forward"); n != 0 {
		t.Errorf("%d forwards asked of an unverified server", n)
	}
}

// TestRelayViaSSH: `relay LISTEN TARGET --via` is a local forward: TARGET is
// reached from the server's side.
func TestRelayViaSSH(t *testing.T) {
	srv, key, kh := sshFixture(t, gatewaytest.SSHConfig{})
	target := "127.0.0.1:" + helloServer(t)
	e := newEnv(t)
	p := e.start("relay", "127.0.0.1:0", target, "--via", "ssh://tester@"+srv.Addr().String(),
		"--ssh-key", key, "--known-hosts", kh, "--json")
	rl := p.waitEvent("relaying", sshWait)
	listen, _ := rl["listen"].(string)
	if got := readHello(t, listen); got != "hello" {
		t.Errorf("through the local forward %s: %q, want hello", listen, got)
	}
	if n := srv.Requests("tcpip-forward"); n != 0 {
		t.Errorf("a local forward asked for %d remote forwards", n)
	}
	if n := srv.Channels("direct-tcpip"); n != 1 {
		t.Errorf("the server dialed TARGET %d times for one connection, want 1 (direct-tcpip)", n)
	}
	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
}

// TestViaFlagsNeedVia: the SSH flags without --via are a usage error.
func TestViaFlagsNeedVia(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"add", "80", "--ssh-key", "k"},
		{"add", "80", "--method", "ssh"},
		{"add", "80", "--via", "ssh://me@[::1"},
	} {
		r := e.run(args...)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1 (usage)\n%s", strings.Join(args, " "), r.code, fmt.Sprint(r))
		}
	}
}

// TestDeleteViaSSH: `delete PORT --via` closes a tunnel that a running
// `add --via` keeps: that process ends, and the server no longer listens.
func TestDeleteViaSSH(t *testing.T) {
	srv, key, kh := sshFixture(t, gatewaytest.SSHConfig{})
	port := helloServer(t)
	e := newEnv(t)
	via := "ssh://tester@" + srv.Addr().String()
	p := e.start("add", port, "--method", "ssh", "--via", via, "--ssh-key", key, "--known-hosts", kh, "--json")
	p.waitEvent("mapped", sshWait)
	if n := len(srv.Forwards()); n != 1 {
		t.Fatalf("the server forwards %d ports, want 1", n)
	}
	r := e.mustRun("delete", port, "--via", via, "--json")
	lines := jsonLines(t, r.stdout)
	if len(lines) != 1 || lines[0]["event"] != "deleted" || lines[0]["method"] != "ssh" {
		t.Errorf("delete --json printed %v", lines)
	}
	select {
	case <-p.done:
	case <-time.After(sshWait):
		t.Fatal("add --via still runs after delete")
	}
	if f := srv.Forwards(); len(f) != 0 {
		t.Errorf("the server still forwards %v after delete", f)
	}
	if r := e.run("delete", port, "--via", via); r.code == 0 {
		t.Errorf("a second delete of the same tunnel succeeded:\n%s", r)
	}
}

// TestRunViaSSHWithoutAGateway: where no router answers at all, `run
// --map … --via` keeps each port as a tunnel through the SSH server (the
// fallback, tried although the silent router used all of --timeout),
// reports lost and restored on the same port when the server
// drops its connections, `list` shows the tunnels although no router can
// be read, and SIGTERM closes them on the server.
func TestRunViaSSHWithoutAGateway(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true, DisableUPnP: true})
	srv, key, kh := sshFixture(t, gatewaytest.SSHConfig{})
	ports := []string{helloServer(t), helloServer(t)}
	e := newEnv(t)
	via := "ssh://tester@" + srv.Addr().String()
	p := e.start("run", "--map", ports[0], "--map", ports[1], "--via", via, "--ssh-key", key, "--known-hosts", kh,
		"--gateway", gw.Addr().String(), "--timeout", "2s", "--json")
	want := map[string]bool{}
	for _, port := range ports {
		want[net.JoinHostPort(srv.Addr().Addr().String(), port)] = true
	}
	for range ports {
		m := p.waitEvent("mapped", sshWait)
		ext, _ := m["external"].(string)
		if m["method"] != "ssh" || !want[ext] {
			t.Fatalf("mapped event %v, want method ssh at one of %v", m, want)
		}
	}
	for ext := range want {
		if got := readHello(t, ext); got != "hello" {
			t.Errorf("through the tunnel %s: %q, want hello", ext, got)
		}
	}

	list := e.run("list", "--gateway", gw.Addr().String(), "--timeout", "1s")
	if list.code != 0 {
		t.Errorf("list without a router but with tunnels: %s", list)
	}
	for ext := range want {
		if !strings.Contains(list.stdout, ext) || !strings.Contains(list.stdout, "ssh") {
			t.Errorf("list does not show the tunnel %s:\n%s", ext, list)
		}
	}

	if n := srv.DropConnections(); n != len(ports) {
		t.Fatalf("the server had %d connections, want %d (one per tunnel)", n, len(ports))
	}
	lost, restored := map[string]bool{}, map[string]bool{}
	deadline := time.Now().Add(sshWait)
	for len(restored) < len(ports) {
		ev := p.nextJSON(time.Until(deadline))
		ext, _ := ev["external"].(string)
		switch ev["event"] {
		case "lost":
			lost[ext] = true
		case "restored":
			if !want[ext] || !lost[ext] {
				t.Fatalf("restored at %v, want one of %v (the same ports), after its lost event", ev, want)
			}
			restored[ext] = true
		}
	}
	for ext := range want {
		if got := readHello(t, ext); got != "hello" {
			t.Errorf("through the restored tunnel %s: %q, want hello", ext, got)
		}
	}

	if _, code := p.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if f := srv.Forwards(); len(f) != 0 {
		t.Errorf("the server still forwards %v after SIGTERM", f)
	}
	for _, r := range e.readState().Mappings {
		if r.Method == "ssh" {
			t.Errorf("state file still records the closed tunnel %+v", r)
		}
	}
}
