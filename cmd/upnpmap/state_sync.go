package main

import (
	"os"
	"runtime"
)

// flushDir is syncDir, as state.save calls it; a test counts the calls
// through it.
var flushDir = syncDir

// syncDir flushes a directory, so that a rename in it is on disk. Windows
// cannot open a directory for flushing (and its rename is journaled by
// NTFS), so there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
