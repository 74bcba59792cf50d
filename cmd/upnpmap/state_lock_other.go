//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris || windows)

package main

// tryLockFile on systems with neither flock nor LockFileEx (aix, plan9,
// wasip1…) falls back to creating the lock file exclusively.
func tryLockFile(path string) (release func(), err error) {
	return tryLockExclusive(path)
}
