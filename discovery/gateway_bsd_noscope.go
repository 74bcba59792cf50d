//go:build dragonfly || freebsd || netbsd || openbsd

package discovery

// rtfIfScope: the other BSDs have no interface-scoped routes.
const rtfIfScope = 0
