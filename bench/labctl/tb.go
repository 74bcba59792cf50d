//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
)

// programTB lets a program hold a netlab.Lab, which is written for tests and
// takes a testing.TB: it keeps the cleanups netlab registers (Close) and runs
// them, last first, in cleanup; temporary directories live under one root
// that cleanup removes; logs go to a writer. Fatal and Skip end the calling
// goroutine like the testing package does, after marking the run failed.
//
// The embedded testing.TB is nil. It is there only because the interface has
// an unexported method; every exported method of Go 1.24's testing.TB is
// implemented below, so nothing reaches it.
type programTB struct {
	testing.TB

	out  io.Writer
	root string // parent of the TempDir directories

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	ctx      context.Context
	cancel   context.CancelFunc
	n        int
}

func newProgramTB(out io.Writer) (*programTB, error) {
	root, err := os.MkdirTemp("", "labctl-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &programTB{out: out, root: root, ctx: ctx, cancel: cancel}, nil
}

// cleanup runs the registered cleanups, last registered first, and removes
// the temporary directories. It is idempotent.
func (t *programTB) cleanup() {
	t.cancel()
	for {
		t.mu.Lock()
		if len(t.cleanups) == 0 {
			t.mu.Unlock()
			break
		}
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		t.mu.Unlock()
		f()
	}
	os.RemoveAll(t.root)
}

func (t *programTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *programTB) TempDir() string {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	dir := fmt.Sprintf("%s/%03d", t.root, n)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	return dir
}

func (t *programTB) Log(args ...any)                 { fmt.Fprintln(t.out, args...) }
func (t *programTB) Logf(format string, args ...any) { fmt.Fprintf(t.out, format+"\n", args...) }
func (t *programTB) Error(args ...any)               { t.Log(args...); t.Fail() }
func (t *programTB) Errorf(format string, args ...any) {
	t.Logf(format, args...)
	t.Fail()
}
func (t *programTB) Fatal(args ...any)                 { t.Log(args...); t.FailNow() }
func (t *programTB) Fatalf(format string, args ...any) { t.Logf(format, args...); t.FailNow() }
func (t *programTB) Skip(args ...any)                  { t.Fatal(args...) }
func (t *programTB) Skipf(format string, args ...any)  { t.Fatalf(format, args...) }
func (t *programTB) SkipNow()                          { t.FailNow() }
func (t *programTB) Skipped() bool                     { return false }
func (t *programTB) Helper()                           {}
func (t *programTB) Name() string                      { return "labctl" }
func (t *programTB) Context() context.Context          { return t.ctx }

func (t *programTB) Fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
}

func (t *programTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// FailNow ends the calling goroutine, as in package testing; main's deferred
// cleanup still runs when that goroutine is main's.
func (t *programTB) FailNow() {
	t.Fail()
	runtime.Goexit()
}

func (t *programTB) Setenv(key, value string) {
	prev, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("Setenv: %v", err)
	}
	t.Cleanup(func() {
		if had {
			os.Setenv(key, prev)
		} else {
			os.Unsetenv(key)
		}
	})
}

func (t *programTB) Chdir(dir string) {
	prev, err := os.Getwd()
	if err != nil {
		t.Fatalf("Chdir: %v", err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatalf("Chdir: %v", err)
	}
	t.Cleanup(func() { os.Chdir(prev) })
}
