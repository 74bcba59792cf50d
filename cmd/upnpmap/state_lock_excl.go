package main

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// stateLockStale is the age after which an exclusive-create lock file is
// taken to be left over from a crashed process and removed. A holder keeps
// the lock for one read-change-write (milliseconds), and waiters give up
// after stateLockTimeout, so a lock file older than both is nobody's.
const stateLockStale = 3 * stateLockTimeout

// tryLockExclusive is the portable lock: whoever creates the file with
// O_EXCL holds the lock, and releasing it removes the file. Unlike flock it
// survives a crash, hence the stale-file rule. It is used only where the
// system offers no real file lock, and it is compiled everywhere so that
// its tests run on every system.
func tryLockExclusive(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(path); serr == nil && time.Since(fi.ModTime()) > stateLockStale {
			// Left by a crash. Two waiters that both judge it stale could
			// remove each other's fresh lock between the Stat and the
			// Remove; that needs a crash first and is accepted on systems
			// that offer nothing better.
			os.Remove(path)
		}
		return nil, errStateLocked
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	return func() { os.Remove(path) }, nil
}
