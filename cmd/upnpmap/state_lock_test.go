package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// The helper process: TestStateConcurrentProcesses re-runs this test binary
// with these variables set, and each copy updates the shared state file as
// `upnpmap add` and `upnpmap delete` do.
const (
	helperDirEnv   = "UPNPMAP_TEST_STATE_DIR"
	helperIndexEnv = "UPNPMAP_TEST_STATE_INDEX"
	helperGoFile   = "go" // created by the parent once every helper runs
	// helperRounds is how many add/delete pairs each helper makes besides
	// its lasting record: enough overlapping read-change-writes that an
	// unlocked update loses records in practically every run, few enough
	// that 20 race-built processes on a busy machine finish well within
	// stateLockTimeout.
	helperRounds = 2
	// helperWait bounds how long a helper waits for the start signal and
	// the parent for the helpers: a hang fails the test instead of stalling
	// the run.
	helperWait = 60 * time.Second
	helperPoll = time.Millisecond
)

const concurrentProcesses = 20

func TestStateHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper for TestStateConcurrentProcesses; runs only as its child process")
	}
	i, err := strconv.Atoi(os.Getenv(helperIndexEnv))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the start signal, so that all helpers update at once.
	deadline := time.Now().Add(helperWait)
	for {
		if _, err := os.Stat(filepath.Join(dir, helperGoFile)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no start signal")
		}
		time.Sleep(helperPoll)
	}
	a := &app{stdout: io.Discard, stderr: os.Stderr, cacheDir: dir}
	mine := testRecord(uint16(2000+i), time.Time{})
	if err := a.updateState(func(s *state) { s.put(mine) }); err != nil {
		t.Fatal(err)
	}
	for r := range helperRounds {
		temp := testRecord(uint16(3000+100*i+r), time.Time{})
		if err := a.updateState(func(s *state) { s.put(temp) }); err != nil {
			t.Fatal(err)
		}
		if err := a.updateState(func(s *state) { s.remove(temp.sameSlot) }); err != nil {
			t.Fatal(err)
		}
	}
	// Delete the record the parent seeded for this helper.
	old := testRecord(uint16(1000+i), time.Time{})
	if err := a.updateState(func(s *state) { s.remove(old.sameSlot) }); err != nil {
		t.Fatal(err)
	}
}

// TestStateConcurrentProcesses: twenty upnpmap processes updating the state
// file at once lose nothing. Each adds one record of its own, adds and
// deletes ten more, and deletes one record seeded beforehand; at the end
// exactly the twenty added records remain.
func TestStateConcurrentProcesses(t *testing.T) {
	if os.Getenv(helperDirEnv) != "" {
		t.Skip("running as a helper")
	}
	dir := memTempDir(t)
	path := filepath.Join(dir, stateFileName)
	seed := &state{Version: stateVersion}
	for i := range concurrentProcesses {
		seed.put(testRecord(uint16(1000+i), time.Time{}))
	}
	if err := seed.save(path); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	cmds := make([]*exec.Cmd, concurrentProcesses)
	outs := make([]*strings.Builder, concurrentProcesses)
	for i := range cmds {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStateHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperIndexEnv+"="+strconv.Itoa(i))
		outs[i] = new(strings.Builder)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	if err := os.WriteFile(filepath.Join(dir, helperGoFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i])
		}
	}

	got, err := loadState(path)
	if err != nil {
		t.Fatalf("state file after the helpers: %v", err)
	}
	have := map[uint16]bool{}
	for _, m := range got.Mappings {
		have[m.External.Port()] = true
	}
	var missing []int
	for i := range concurrentProcesses {
		if !have[uint16(2000+i)] {
			missing = append(missing, 2000+i)
		}
	}
	if len(missing) > 0 || len(got.Mappings) != concurrentProcesses {
		t.Errorf("%d records, want %d; missing added ports %v; all: %v", len(got.Mappings), concurrentProcesses, missing, ports(got))
	}
	// No temporary file is left behind by a writer.
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".state-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func ports(s *state) []uint16 {
	var p []uint16
	for _, m := range s.Mappings {
		p = append(p, m.External.Port())
	}
	return p
}

// TestStateLockExcludes: while one holder has the lock, a second attempt
// is told the file is locked; after release it succeeds. (flock locks
// belong to an open file, so two attempts in one process conflict as two
// processes do.)
func TestStateLockExcludes(t *testing.T) {
	for name, try := range map[string]func(string) (func(), error){
		"native":    tryLockFile,
		"exclusive": tryLockExclusive,
	} {
		t.Run(name, func(t *testing.T) {
			lock := filepath.Join(t.TempDir(), stateFileName+stateLockSuffix)
			release, err := try(lock)
			if err != nil {
				t.Fatal(err)
			}
			if r2, err := try(lock); !errors.Is(err, errStateLocked) {
				if r2 != nil {
					r2()
				}
				t.Fatalf("second lock while held: %v, want errStateLocked", err)
			}
			release()
			r3, err := try(lock)
			if err != nil {
				t.Fatalf("lock after release: %v", err)
			}
			r3()
		})
	}
}

// TestStateExclusiveLockStale: the fallback lock of a process that crashed
// (its file older than stateLockStale) is broken, so upnpmap does not stay
// locked out for good.
func TestStateExclusiveLockStale(t *testing.T) {
	lock := filepath.Join(t.TempDir(), stateFileName+stateLockSuffix)
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tryLockExclusive(lock); !errors.Is(err, errStateLocked) {
		t.Fatalf("fresh lock file: %v, want errStateLocked", err)
	}
	old := time.Now().Add(-2 * stateLockStale)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	tryLockExclusive(lock) // finds it stale and removes it
	release, err := tryLockExclusive(lock)
	if err != nil {
		t.Fatalf("after a stale lock: %v", err)
	}
	release()
}

// TestStateConcurrentAdds: the user's view of the same guarantee. Twenty
// `upnpmap add --method pcp` started at once each leave their record (with
// the PCP nonce), and twenty `upnpmap delete` started at once then remove
// every mapping from the router, which PCP allows only with those nonces.
func TestStateConcurrentAdds(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	e := newEnv(t)
	addr := gw.Addr().String()
	runAll := func(verb string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), helperWait)
		defer cancel()
		cmds := make([]*exec.Cmd, concurrentProcesses)
		outs := make([]*bytes.Buffer, concurrentProcesses)
		for i := range cmds {
			cmds[i] = exec.CommandContext(ctx, cliBinary, verb, strconv.Itoa(20000+i), "--gateway", addr, "--method", "pcp")
			cmds[i].Env, cmds[i].Dir = e.environ(), e.home
			outs[i] = new(bytes.Buffer)
			cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("upnpmap %s %d: %v\n%s", verb, 20000+i, err, outs[i])
			}
		}
	}

	runAll("add")
	if n := len(gw.Mappings()); n != concurrentProcesses {
		t.Fatalf("router has %d mappings after %d adds", n, concurrentProcesses)
	}
	st := e.readState()
	if len(st.Mappings) != concurrentProcesses {
		t.Errorf("state file has %d records after %d concurrent adds: %v", len(st.Mappings), concurrentProcesses, ports(st))
	}
	for _, m := range st.Mappings {
		if m.Method != "pcp" || m.Nonce == "" {
			t.Errorf("record %+v: want a PCP record with its nonce", m)
		}
	}

	runAll("delete")
	if left := gw.Mappings(); len(left) != 0 {
		t.Errorf("router still has %d mappings after the deletes", len(left))
	}
	if st := e.readState(); len(st.Mappings) != 0 {
		t.Errorf("state file keeps %d records after the deletes: %v", len(st.Mappings), ports(st))
	}
}
