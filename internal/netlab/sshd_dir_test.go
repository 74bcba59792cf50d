package netlab

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOthersCanReach: a directory behind a private (0700) one is not
// reachable by the lab's sshd user, as under test.sh's TMPDIR; one behind
// searchable directories is, and reachableTempDir never picks the former.
func TestOthersCanReach(t *testing.T) {
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(base, "private")
	inside := filepath.Join(private, "inside")
	open := filepath.Join(base, "open")
	for _, d := range []string{inside, open} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if !othersCanReach("/") {
		t.Fatal("/ is not reachable")
	}
	// t.TempDir's parents are the caller's TMPDIR, which may itself be
	// private: only compare below base when base is reachable.
	if othersCanReach(base) {
		if !othersCanReach(open) {
			t.Errorf("%s (0755 under a reachable 0755) counted unreachable", open)
		}
	}
	if othersCanReach(inside) {
		t.Errorf("%s (behind a 0700 directory) counted reachable", inside)
	}
	t.Setenv("TMPDIR", inside)
	if d := reachableTempDir(); !othersCanReach(d) {
		t.Errorf("reachableTempDir() = %s, which others cannot reach", d)
	}
}
