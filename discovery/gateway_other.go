//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd && !windows

package discovery

import "fmt"

// defaultGateways is not implemented on this platform; the caller must name
// the gateway.
func defaultGateways() ([]Gateway, error) {
	return nil, fmt.Errorf("%w: reading the routing table on this platform", ErrUnsupported)
}
