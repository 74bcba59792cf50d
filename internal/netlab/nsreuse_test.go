//go:build linux

package netlab

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestStartedAfterDeletion: a process that started after a lab namespace
// was deleted is not blamed on it (another namespace got the inode), one
// that was running before is, and so is a namespace CheckClean has no
// deletion time for.
func TestStartedAfterDeletion(t *testing.T) {
	self, ok := startTicks(os.Getpid())
	now, ok2 := bootTicks()
	if !ok || !ok2 || self > now {
		t.Fatalf("own start %d (%v), boot clock %d (%v): want start <= now", self, ok, now, ok2)
	}
	deleted := map[string]uint64{"upm-1-1-wan": now}
	// Let the boot clock pass the deletion tick, so the child starts after it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if t2, _ := bootTicks(); t2 > now {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("boot clock did not advance in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()

	if !startedAfterDeletion(child.Process.Pid, "upm-1-1-wan", deleted) {
		t.Error("a process started after the deletion is blamed on the namespace")
	}
	if startedAfterDeletion(os.Getpid(), "upm-1-1-wan", deleted) {
		t.Error("a process running before the deletion is excused")
	}
	if startedAfterDeletion(child.Process.Pid, "upm-1-1-rtr", deleted) {
		t.Error("a namespace without a deletion time excuses a process")
	}
}
