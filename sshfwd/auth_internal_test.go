package sshfwd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// writeKey writes a fresh unencrypted ed25519 key to path and returns its
// public half's wire form.
func writeKey(t *testing.T, path string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(s.PublicKey().Marshal())
}

// serveAgent runs an ssh-agent holding one fresh key on a socket in a
// temporary directory; it returns the socket, the key's wire form and how
// many connections the agent has had.
func serveAgent(t *testing.T) (sock, key string, conns *atomic.Int32) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return sock, string(s.PublicKey().Marshal()), conns
}

// TestSignersOfferTheAgentFirstThenTheIdentityFiles: as OpenSSH, the
// agent's keys come first, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa in
// that order; a named key (ssh -i) is the only one offered, and the agent
// is not even asked.
func TestSignersOfferTheAgentFirstThenTheIdentityFiles(t *testing.T) {
	sock, agentKey, conns := serveAgent(t)
	home := t.TempDir()
	rsaName := writeKey(t, filepath.Join(home, ".ssh", "id_rsa")) // the name is what counts
	edName := writeKey(t, filepath.Join(home, ".ssh", "id_ed25519"))
	cfg := Config{AgentSocket: sock, HomeDir: home}.withDefaults()
	signers, done, err := cfg.signers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	var got []string
	for _, s := range signers {
		got = append(got, string(s.PublicKey().Marshal()))
	}
	want := []string{agentKey, edName, rsaName}
	if len(got) != len(want) {
		t.Fatalf("%d keys offered, want %d (agent, id_ed25519, id_rsa)", len(got), len(want))
	}
	for i, name := range []string{"the agent's key", "id_ed25519", "id_rsa"} {
		if got[i] != want[i] {
			t.Errorf("key %d offered is not %s", i, name)
		}
	}

	named := filepath.Join(t.TempDir(), "named")
	namedKey := writeKey(t, named)
	cfg.KeyFile = named
	before := conns.Load()
	signers, done, err = cfg.signers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	if len(signers) != 1 || string(signers[0].PublicKey().Marshal()) != namedKey {
		t.Errorf("with KeyFile, %d keys offered; want the named one alone", len(signers))
	}
	if n := conns.Load() - before; n != 0 {
		t.Errorf("the agent was asked %d times although a key was named", n)
	}
}
