//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// namePrefix starts every lab namespace name: "upm-<pid>-<n>-<node>".
const namePrefix = "upm-"

// registry remembers what this process created, for CheckClean.
var registry struct {
	mu    sync.Mutex
	pids  map[int]bool      // miniupnpd processes started
	netns map[string]uint64 // namespace name -> nsfs inode
	// namespace name -> boot time (USER_HZ ticks) of its deletion, see
	// nsreuse.go
	deleted map[string]uint64
	seq     int // labs built so far, for unique names
	// baseline of the caller's namespace before the first lab
	baseLinks  map[string]bool
	baseTables string
	haveBase   bool
}

func registerPID(pid int) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.pids == nil {
		registry.pids = map[int]bool{}
	}
	registry.pids[pid] = true
}

func registerNetns(name string, ino uint64) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.netns == nil {
		registry.netns = map[string]uint64{}
	}
	registry.netns[name] = ino
}

// nextPrefix returns a namespace name prefix unique to this process and lab.
func nextPrefix() string {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.seq++
	return fmt.Sprintf("%s%d-%d-", namePrefix, os.Getpid(), registry.seq)
}

func nsInode(name string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, name), &st); err != nil {
		return 0, fmt.Errorf("netlab: namespace %s: %w", name, err)
	}
	return st.Ino, nil
}

// takeBaseline records the caller's links and nft tables once, before the
// first lab, so that CheckClean can tell what a lab left behind.
func takeBaseline(ctx context.Context) error {
	registry.mu.Lock()
	done := registry.haveBase
	registry.mu.Unlock()
	if done {
		return nil
	}
	links, err := callerLinks(ctx)
	if err != nil {
		return err
	}
	tables, err := run(ctx, "", "nft", "list", "tables")
	if err != nil {
		return err
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if !registry.haveBase {
		registry.baseLinks, registry.baseTables, registry.haveBase = links, tables, true
	}
	return nil
}

func callerLinks(ctx context.Context) (map[string]bool, error) {
	out, err := run(ctx, "", "ip", "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	links := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		// "2: eth0@if5: <...": the name is the second field, up to '@' or ':'.
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		links[name] = true
	}
	return links, nil
}

// listNetns returns the names of the named network namespaces.
func listNetns() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// maxStale bounds how many leftover namespaces one CleanStale removes.
const maxStale = 256

// CleanStale removes what earlier, crashed runs left behind: namespaces named
// "upm-<pid>-..." whose pid is no longer a running process (or whose name does
// not parse), after killing the processes inside them (lab processes only
// ever run inside lab namespaces). Namespaces of labs that are still running,
// in this process or another, are left alone. New calls it; it is idempotent.
func CleanStale(ctx context.Context) error {
	names, err := listNetns()
	if err != nil {
		return err
	}
	var errs []error
	count := 0
	for _, name := range names {
		if !strings.HasPrefix(name, namePrefix) || ownerAlive(name) {
			continue
		}
		if count++; count > maxStale {
			errs = append(errs, fmt.Errorf("netlab: more than %d stale namespaces; stopped", maxStale))
			break
		}
		errs = append(errs, deleteNetns(ctx, name))
	}
	return errors.Join(errs...)
}

// ownerAlive reports whether the process named in "upm-<pid>-..." exists.
func ownerAlive(name string) bool {
	rest := strings.TrimPrefix(name, namePrefix)
	pidStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true // this process's labs are Close's business
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// deleteNetns kills every process that is inside namespace name or on its
// way in, deletes the name, and kills again whatever entered it meanwhile.
// The namespace's links (veths, bridge) and nft tables go with it.
//
// Looking for processes by `ip netns pids` alone is not enough: `ip netns
// exec NAME` opens /run/netns/NAME, then joins the namespace, then execs, so
// a process caught between the first two steps is not in it yet; once the
// name is gone it joins anyway and outlives the cleanup. So processes are
// found by the namespace's inode, in /proc/PID/ns/net, and among the open
// descriptors of processes that name the namespace on their command line (a
// process that merely holds it open for a moment, as `ip netns list-id` of
// another lab does with every namespace, is not on its way in and is left
// alone). They are looked for again after the name is removed, when nothing
// new can open it. deleteNetns keeps the namespace open itself all along, so
// that its inode cannot be given to a new namespace (another lab's) while it
// looks.
func deleteNetns(ctx context.Context, name string) error {
	f, err := os.Open(filepath.Join(netnsDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil // already gone: deleting twice is fine
	}
	if err != nil {
		return fmt.Errorf("netlab: open namespace %s: %w", name, err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("netlab: namespace %s: %w", name, err)
	}
	ns := fileID{uint64(st.Dev), st.Ino}
	if err := killNetnsProcs(ctx, name, ns); err != nil {
		return err
	}
	if _, err := run(ctx, "", "ip", "netns", "del", name); err != nil {
		if _, statErr := os.Stat(filepath.Join(netnsDir, name)); !errors.Is(statErr, os.ErrNotExist) {
			return err
		}
	}
	if err := killNetnsProcs(ctx, name, ns); err != nil {
		return err
	}
	markDeleted(name)
	return nil
}

// Bounds of killNetnsProcs: how long SIGKILLed processes get to die, and how
// often the survivors are looked for again meanwhile.
const (
	killWait = 3 * time.Second
	killPoll = 20 * time.Millisecond
)

// killNetnsProcs SIGKILLs, by pid, the processes inside the network
// namespace ns (named name, for messages) or holding it open, and waits
// (bounded by killWait) until none is left.
func killNetnsProcs(ctx context.Context, name string, ns fileID) error {
	deadline := time.Now().Add(killWait)
	for {
		pids := netnsUsers(name, ns)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: processes %v in %s survived SIGKILL", pids, name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(killPoll):
		}
	}
}

// fileID names a file, here a namespace, by device and inode.
type fileID struct{ dev, ino uint64 }

func statID(path string) (fileID, bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), st.Ino}, true
}

// netnsUsers returns the live processes, other than this one, that are in
// namespace ns, or hold a descriptor of it and name it (name) on their
// command line. (This process is left out: its
// doInNetns threads go back before returning, and its own descriptors are
// deleteNetns's.) Zombies are left out too: they are dead already and only
// wait for their parent.
func netnsUsers(name string, ns fileID) []int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		if usesNetns(filepath.Join("/proc", p.Name()), name, ns) && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// usesNetns reports whether the process at dir (/proc/PID) is in namespace
// ns, or has it open and name among its arguments. A descriptor opened by path (/run/netns/NAME) shows that
// path as its link, not "net:[INODE]", so descriptors are compared by stat;
// sockets, pipes and the like are passed over by their link text.
func usesNetns(dir, name string, ns fileID) bool {
	if id, ok := statID(filepath.Join(dir, "ns", "net")); ok && id == ns {
		return true
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || !slices.Contains(strings.Split(string(cmdline), "\x00"), name) {
		return false
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		path := filepath.Join(dir, "fd", fd.Name())
		link, err := os.Readlink(path)
		if err != nil || !(strings.HasPrefix(link, "/") || strings.HasPrefix(link, "net:")) {
			continue
		}
		if id, ok := statID(path); ok && id == ns {
			return true
		}
	}
	return false
}

// suspectRecheck and suspectRechecks: how CheckClean makes sure a process
// seen in a lab namespace stays there (see CheckClean).
const (
	suspectRecheck  = 50 * time.Millisecond
	suspectRechecks = 4
)

// inLabNetns reports whether process pid is in one of the lab namespaces
// inodes names (and started before that namespace's deletion, if it was
// deleted), and which.
func inLabNetns(pid int, inodes map[uint64]string, deleted map[string]uint64) (string, bool) {
	var st syscall.Stat_t
	if syscall.Stat(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"), &st) != nil {
		return "", false
	}
	name, ok := inodes[st.Ino]
	if !ok || startedAfterDeletion(pid, name, deleted) {
		return "", false
	}
	return name, true
}

// CheckClean reports what labs of this process left behind: a lab namespace
// still present, a process still running inside a lab namespace (named or
// already deleted), a miniupnpd started by netlab still alive, a link or an
// nft table in the caller's namespace that was not there before the first
// lab. It returns nil when everything is gone. Call it after Close.
func CheckClean() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var problems []string

	registry.mu.Lock()
	mine := map[string]uint64{}
	for k, v := range registry.netns {
		mine[k] = v
	}
	var pids []int
	for p := range registry.pids {
		pids = append(pids, p)
	}
	baseLinks, baseTables, haveBase := registry.baseLinks, registry.baseTables, registry.haveBase
	deleted := maps.Clone(registry.deleted)
	registry.mu.Unlock()

	own := fmt.Sprintf("%s%d-", namePrefix, os.Getpid())
	names, err := listNetns()
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, own) {
			problems = append(problems, "namespace "+n+" still exists")
		}
	}

	// Any process whose network namespace is one a lab created.
	current := map[string]uint64{}
	for _, n := range names {
		if ino, err := nsInode(n); err == nil {
			current[n] = ino
		}
	}
	inodes := labInodes(mine, current)
	suspects := map[int]string{}
	if procs, err := os.ReadDir("/proc"); err == nil {
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			if name, ok := inLabNetns(pid, inodes, deleted); ok {
				suspects[pid] = name
			}
		}
	}
	// A namespace's inode number is free again once it is deleted, and a
	// process of another test binary (started before the deletion) may be
	// passing through a new namespace that got it: a Go thread that enters
	// a namespace to open a socket, on the main thread whose namespace
	// /proc/PID shows. Such a visit is short; a leftover process stays. So
	// a suspect counts only if it is still there after suspectRecheck.
	for try := 0; len(suspects) > 0 && try < suspectRechecks; try++ {
		time.Sleep(suspectRecheck)
		if names, err := listNetns(); err == nil {
			for _, n := range names {
				if ino, err := nsInode(n); err == nil {
					current[n] = ino
				}
			}
			inodes = labInodes(mine, current)
		}
		for pid := range suspects {
			if name, ok := inLabNetns(pid, inodes, deleted); ok {
				suspects[pid] = name
			} else {
				delete(suspects, pid)
			}
		}
	}
	for _, pid := range slices.Sorted(maps.Keys(suspects)) {
		problems = append(problems, fmt.Sprintf("process %d still runs in lab namespace %s", pid, suspects[pid]))
	}
	// This process's own threads (doInNetns must have moved each back).
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, task := range tasks {
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join("/proc/self/task", task.Name(), "ns", "net"), &st) != nil {
				continue
			}
			if name, ok := inodes[st.Ino]; ok {
				problems = append(problems, fmt.Sprintf("thread %s of this process is in lab namespace %s", task.Name(), name))
			}
		}
	}
	sort.Ints(pids)
	for _, pid := range pids {
		if processAlive(pid) {
			problems = append(problems, fmt.Sprintf("miniupnpd pid %d is still alive", pid))
		}
	}

	if haveBase {
		links, err := callerLinks(ctx)
		if err != nil {
			return err
		}
		for name := range links {
			if !baseLinks[name] {
				problems = append(problems, "link "+name+" appeared in the caller's namespace")
			}
		}
		tables, err := run(ctx, "", "nft", "list", "tables")
		if err != nil {
			return err
		}
		if tables != baseTables {
			problems = append(problems, fmt.Sprintf("nft tables in the caller's namespace changed: before %q, now %q", baseTables, tables))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("netlab: not clean:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// labInodes maps the inodes of the namespaces labs created (mine, by name)
// to their names, leaving out an inode that a namespace of another name
// has now (current, the named namespaces by name): the kernel reuses the
// inode number of a namespace that is gone, and another lab, maybe in
// another test process, may have it. (A namespace of ours with a process
// still inside is not gone, so its inode cannot have been reused.)
func labInodes(mine, current map[string]uint64) map[uint64]string {
	inodes := map[uint64]string{}
	for name, ino := range mine {
		inodes[ino] = name
	}
	for name, ino := range current {
		if own, ok := inodes[ino]; ok && own != name {
			delete(inodes, ino)
		}
	}
	return inodes
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}
