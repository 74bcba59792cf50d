//go:build !linux

package relay

import "net"

// SystemdListeners returns nil, nil, nil: socket activation with LISTEN_FDS
// exists on Linux only.
func SystemdListeners() ([]net.Listener, []net.PacketConn, error) {
	return nil, nil, nil
}
