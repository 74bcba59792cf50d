//go:build linux

package netlab

import (
	"maps"
	"testing"
)

// TestLabInodes: CheckClean looks for processes by the inodes of the
// namespaces labs made; an inode that another namespace now has under
// another name was reused by the kernel and must not be blamed on a lab,
// while one still under its own name, or under none (deleted, maybe with a
// process inside), stays.
func TestLabInodes(t *testing.T) {
	mine := map[string]uint64{"upm-1-1-rtr": 10, "upm-1-1-wan": 11, "upm-1-2-rtr": 12}
	current := map[string]uint64{
		"upm-1-1-rtr":  10, // still there
		"upm-2-7-lan1": 11, // upm-1-1-wan is gone; another lab got its inode
		"other":        99,
	}
	got := labInodes(mine, current)
	want := map[uint64]string{10: "upm-1-1-rtr", 12: "upm-1-2-rtr"}
	if !maps.Equal(got, want) {
		t.Fatalf("labInodes = %v; want %v", got, want)
	}
}
