//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockFile takes an flock(2) on the file at path without waiting. The
// kernel drops the lock when the process exits, however it exits, so a
// crashed upnpmap never leaves the state file locked.
func tryLockFile(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errStateLocked
		}
		return nil, err
	}
	// Closing the descriptor releases the lock.
	return func() { f.Close() }, nil
}
