package sshfwd

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyAlgorithmsFollowTheKnownKeys(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := ssh.NewPublicKey(edPriv.Public())
	rs, _ := ssh.NewPublicKey(rsaPriv.Public())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	lines := knownhosts.Line([]string{"a.example:2222"}, rs) + "\n" + knownhosts.Line([]string{"b.example"}, ed) + "\n"
	if err := os.WriteFile(kh, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{KnownHosts: []string{kh}}
	_, algs, err := cfg.hostKeyCheck("a.example:2222")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}; !slices.Equal(algs, want) {
		t.Errorf("algorithms for an RSA-known host = %v, want %v", algs, want)
	}
	if _, algs, _ = cfg.hostKeyCheck("b.example:22"); !slices.Equal(algs, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("algorithms for an ed25519-known host = %v", algs)
	}
	if _, algs, _ = cfg.hostKeyCheck("c.example:22"); algs != nil {
		t.Errorf("algorithms for an unknown host = %v, want the defaults (nil)", algs)
	}
}
