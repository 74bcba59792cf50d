//go:build linux

package main

import (
	"io"
	"os"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Cleanups run last registered first (netlab's Close must come after what
// was registered later, e.g. copying the router log), and the temporary
// directories are gone afterwards.
func TestProgramTBCleanup(t *testing.T) {
	tb, err := newProgramTB(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	tb.Cleanup(func() { order = append(order, 1) })
	tb.Cleanup(func() {
		order = append(order, 2)
		tb.Cleanup(func() { order = append(order, 3) }) // registered while cleaning up
	})
	dir := tb.TempDir()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("TempDir %s: %v", dir, err)
	}
	if dir2 := tb.TempDir(); dir2 == dir {
		t.Errorf("TempDir returned %s twice", dir)
	}
	tb.cleanup()
	tb.cleanup() // idempotent
	if want := []int{2, 3, 1}; !slices.Equal(order, want) {
		t.Errorf("cleanup order %v, want %v", order, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s still there after cleanup (%v)", dir, err)
	}
	if tb.Context().Err() == nil {
		t.Error("Context not cancelled by cleanup")
	}
}

// Errorf marks the run failed; Fatalf also ends the calling goroutine, as in
// package testing, without ending the program.
func TestProgramTBFailures(t *testing.T) {
	tb, err := newProgramTB(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.cleanup()
	if tb.Failed() {
		t.Fatal("failed before any error")
	}
	tb.Errorf("soft %d", 1)
	if !tb.Failed() {
		t.Error("Errorf did not mark the run failed")
	}

	tb2, err := newProgramTB(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer tb2.cleanup()
	reached := false
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tb2.Fatalf("hard")
		reached = true
	}()
	wg.Wait()
	if reached {
		t.Error("Fatalf returned")
	}
	if !tb2.Failed() {
		t.Error("Fatalf did not mark the run failed")
	}
}
