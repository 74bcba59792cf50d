package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The state file is shared by every upnpmap process of one user: twelve
// `upnpmap add` started by a script at once must leave twelve records. Each
// process therefore reads, changes and writes the file while holding a lock
// on a separate file beside it (state.json.lock). The lock file is never
// removed: deleting a locked file lets a newcomer lock a fresh inode while
// the old holder still works, and two holders lose records again.

const (
	// stateLockTimeout bounds how long a process waits for the others to
	// finish their updates. One update takes milliseconds, up to a few
	// hundred on a slow SD card (two fsyncs), and a script may start dozens
	// of upnpmap at once; giving up loses a record, waiting longer only
	// delays a command whose lock holder is stopped (Ctrl-Z), so the bound is
	// generous.
	stateLockTimeout = 30 * time.Second
	// stateLockPoll is the pause between two attempts to take the lock. The
	// attempts do not block, so that the wait stays bounded on every system.
	stateLockPoll = 5 * time.Millisecond
	// stateLockSuffix names the lock file: state.json.lock.
	stateLockSuffix = ".lock"
)

// errStateLocked is what tryLockFile returns while another process holds
// the lock.
var errStateLocked = errors.New("state file locked by another upnpmap process")

// lockState takes the lock for the state file at path, waiting up to
// stateLockTimeout, and returns the function that releases it. The
// directory must exist.
func lockState(path string) (release func(), err error) {
	lockPath := path + stateLockSuffix
	deadline := time.Now().Add(stateLockTimeout)
	for {
		release, err := tryLockFile(lockPath)
		if err == nil {
			return release, nil
		}
		if !errors.Is(err, errStateLocked) {
			return nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: still locked after %v (is another upnpmap stuck?)", lockPath, stateLockTimeout)
		}
		time.Sleep(stateLockPoll)
	}
}

// ensureStateDir creates the state file's directory, private to the user
// (the file holds PCP nonces, which let anyone delete the mappings).
func ensureStateDir(path string) error {
	return os.MkdirAll(filepath.Dir(path), 0o700)
}
