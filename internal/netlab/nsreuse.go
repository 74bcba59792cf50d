//go:build linux

package netlab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Namespace inode reuse. The kernel hands a freed namespace inode number to
// the next namespace created anywhere on the machine, so once a lab's
// namespace is deleted, a process of another lab (another test process, often
// a moment later) may show the very inode CheckClean looks for. labInodes
// leaves out inodes that another name holds when CheckClean lists the names,
// but a namespace created after that listing, or one already unnamed by its
// own teardown, is not caught there. What is caught: a process that started
// after this lab's namespace was deleted cannot be inside it (deleteNetns
// has killed every process in it or holding it open, and no name is left to
// enter by), so such a process is in another namespace of the same number.

// userHZ is the unit of /proc/PID/stat's start time: USER_HZ, 100 on every
// architecture Go supports on Linux.
const userHZ = 100

// bootTicks is the time since boot in USER_HZ ticks, the clock of a
// process's start time in /proc/PID/stat; ok is false if it cannot be read.
func bootTicks() (ticks uint64, ok bool) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	secs, _, _ := strings.Cut(string(b), " ")
	whole, frac, _ := strings.Cut(secs, ".")
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	f, err := strconv.ParseUint((frac + "00")[:2], 10, 64)
	if err != nil {
		return 0, false
	}
	return w*userHZ + f, true
}

// startTicks is when process pid started, in USER_HZ ticks since boot.
func startTicks(pid int) (ticks uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid ...": fields counted after the last ')', where
	// state is field 3 and starttime field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, false
	}
	t, err := strconv.ParseUint(fields[startField], 10, 64)
	return t, err == nil
}

// markDeleted records that namespace name was deleted with nothing left in
// it, for CheckClean.
func markDeleted(name string) {
	t, ok := bootTicks()
	if !ok {
		return
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.deleted == nil {
		registry.deleted = map[string]uint64{}
	}
	registry.deleted[name] = t
}

// startedAfterDeletion reports whether process pid started after namespace
// name was deleted (deleted maps names to markDeleted's ticks), so that it
// cannot be in it. Within the same tick it counts as not after: a doubtful
// case is reported.
func startedAfterDeletion(pid int, name string, deleted map[string]uint64) bool {
	del, ok := deleted[name]
	if !ok {
		return false
	}
	start, ok := startTicks(pid)
	return ok && start > del
}
