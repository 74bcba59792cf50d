package sshfwd_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// testWait bounds every wait for something to happen in a test; on two busy
// cores things take a while, but never this long.
const testWait = 20 * time.Second

// setup starts a fake SSH server that accepts a fresh key, and returns it
// with a Config that trusts its host key and never touches ~/.ssh or the
// agent.
func setup(t testing.TB, sc gatewaytest.SSHConfig) (*gatewaytest.SSHServer, sshfwd.Config) {
	t.Helper()
	key := gatewaytest.NewSSHKey(t)
	sc.AuthorizedKeys = append(sc.AuthorizedKeys, key.PublicKey())
	srv := gatewaytest.NewSSH(t, sc)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt, err := sshfwd.ParseTarget("ssh://tester@" + srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return srv, sshfwd.Config{
		Server:     tgt,
		Signers:    []ssh.Signer{key},
		NoAgent:    true,
		HomeDir:    dir,
		KnownHosts: []string{kh},
		BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond,
	}
}

// echoServer is a target that sends back what it reads, then half-closes.
func echoServer(t testing.TB) string {
	t.Helper()
	addr, stop := newEcho(t)
	t.Cleanup(stop)
	return addr
}

// newEcho starts an echo target; stop closes it and waits for its goroutines.
func newEcho(t testing.TB) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }
}

// roundTrip sends msg to addr, half-closes, and returns all that comes back.
func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testWait))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b)
}

// nextEvent waits for the next event of kind, skipping others.
func nextEvent(t *testing.T, f *sshfwd.Forward, kind sshfwd.EventKind) sshfwd.Event {
	t.Helper()
	deadline := time.After(testWait)
	for {
		select {
		case ev, ok := <-f.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %v", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", kind, testWait)
		}
	}
}

// eventually polls cond until it holds or testWait passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, testWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func mustKey() ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return priv
}
