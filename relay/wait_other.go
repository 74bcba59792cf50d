//go:build !linux

package relay

import "syscall"

// canPark is false where waitReadable cannot wait: directions stay in
// io.Copy and UDP sessions wait inside their read.
const canPark = false

func waitReadable(syscall.RawConn) error { return nil }
