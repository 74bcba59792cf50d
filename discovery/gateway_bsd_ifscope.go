//go:build darwin

package discovery

import "golang.org/x/sys/unix"

// rtfIfScope marks macOS's interface-scoped routes.
const rtfIfScope = unix.RTF_IFSCOPE
