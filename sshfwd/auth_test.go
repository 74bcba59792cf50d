package sshfwd_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// newKeyFile writes a fresh ed25519 key in OpenSSH's format, encrypted when
// passphrase is not empty, and returns its public half.
func newKeyFile(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// setupKeys is setup without in-memory keys: authentication comes from
// files under cfg.HomeDir or an agent, as for a user.
func setupKeys(t *testing.T, authorized ...ssh.PublicKey) (*gatewaytest.SSHServer, sshfwd.Config) {
	t.Helper()
	srv, cfg := setup(t, gatewaytest.SSHConfig{AuthorizedKeys: authorized})
	cfg.Signers = nil
	return srv, cfg
}

func TestNamedKeyFile(t *testing.T) {
	dir := t.TempDir()
	pub := newKeyFile(t, filepath.Join(dir, "mykey"), "")
	_, cfg := setupKeys(t, pub)
	cfg.KeyFile = filepath.Join(dir, "mykey")
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatalf("login with -i key: %v", err)
	}
	f.Close()
}

func TestPassphraseProtectedKeyIsAnErrorNotAPrompt(t *testing.T) {
	dir := t.TempDir()
	pub := newKeyFile(t, filepath.Join(dir, "locked"), "secret")
	_, cfg := setupKeys(t, pub)
	cfg.KeyFile = filepath.Join(dir, "locked")
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrPassphrase) || !strings.Contains(err.Error(), cfg.KeyFile) {
		t.Fatalf("err = %v, want ErrPassphrase naming %s", err, cfg.KeyFile)
	}
}

func TestDefaultIdentityFileIsUsed(t *testing.T) {
	home := t.TempDir()
	// id_ed25519 is locked, so it is skipped for the next one, id_ecdsa
	// (an ed25519 key under that name: the name is what is looked for).
	newKeyFile(t, filepath.Join(home, ".ssh", "id_ed25519"), "secret")
	pub := newKeyFile(t, filepath.Join(home, ".ssh", "id_ecdsa"), "")
	_, cfg := setupKeys(t, pub)
	cfg.HomeDir = home
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatalf("login with ~/.ssh/id_ecdsa: %v", err)
	}
	f.Close()
}

func TestOnlyALockedDefaultKeyIsErrPassphrase(t *testing.T) {
	_, cfg := setupKeys(t)
	newKeyFile(t, filepath.Join(cfg.HomeDir, ".ssh", "id_ed25519"), "secret")
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrPassphrase) {
		t.Fatalf("err = %v, want ErrPassphrase", err)
	}
}

func TestNoKeysAtAll(t *testing.T) {
	_, cfg := setupKeys(t)
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrNoKeys) {
		t.Fatalf("err = %v, want ErrNoKeys", err)
	}
}

func TestWrongKeyIsErrAuth(t *testing.T) {
	dir := t.TempDir()
	newKeyFile(t, filepath.Join(dir, "other"), "")
	_, cfg := setupKeys(t)
	cfg.KeyFile = filepath.Join(dir, "other")
	_, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if !errors.Is(err, sshfwd.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
}

func TestAgentKeyIsTriedFirst(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	_, cfg := setupKeys(t, signer.PublicKey())
	cfg.NoAgent = false
	cfg.AgentSocket = sock
	f, err := sshfwd.Remote(testContext(t), cfg, echoServer(t))
	if err != nil {
		t.Fatalf("login with the agent's key: %v", err)
	}
	f.Close()
}
