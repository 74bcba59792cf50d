package discovery

import (
	"errors"
	"fmt"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// Sentinels shared with the other packages (the values are those of
// internal/errs, so errors.Is works across packages).
var (
	ErrNoGateway   = errs.NoGateway
	ErrMalformed   = errs.Malformed
	ErrTimeout     = errs.Timeout
	ErrUnsupported = errs.Unsupported
	ErrInvalidArgs = errs.InvalidArgs
	// ErrUnusableDevice: a device answered but its description is too big,
	// malformed, or offers no port-mapping service. The error's message
	// names what the device offered, where that is known.
	ErrUnusableDevice = errs.UnusableDevice
)

// Errors of this package. Each wraps one of the shared sentinels above, so a
// caller that only knows the front door's vocabulary still classifies it.
var (
	// ErrNoDefaultRoute: the routing table has no default route with a
	// gateway address. It also covers a default route whose gateway the OS
	// hides (Android 10+ zeroes it in /proc/net/route) and one on a
	// point-to-point link, which has no gateway to talk to. No address is
	// ever guessed. Wraps ErrNoGateway.
	ErrNoDefaultRoute = fmt.Errorf("%w: no default route with a gateway address", errs.NoGateway)

	// ErrTooLarge: a datagram or a device description exceeded its size
	// limit. Wraps ErrMalformed.
	ErrTooLarge = fmt.Errorf("%w: message too large", errs.Malformed)

	// ErrRedirect: the device answered the description request with a
	// redirect, which is never followed. Wraps ErrUnsupported.
	ErrRedirect = fmt.Errorf("%w: HTTP redirect refused", errs.Unsupported)

	// ErrNoSocket: the search could not open a single socket (no usable
	// interface, or every bind failed). It is a local problem, not the
	// gateway's, so it wraps none of the shared sentinels.
	ErrNoSocket = errors.New("discovery: no usable socket for SSDP")
)

// malformed returns an error that wraps ErrMalformed with a reason.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errs.Malformed}, args...)...)
}

// unusable marks a description error as the device's: it wraps
// ErrUnusableDevice besides err (which keeps its own sentinels, ErrMalformed
// or ErrTooLarge), so that a caller can tell "this device cannot be used"
// from "no device answered".
func unusable(err error) error {
	return fmt.Errorf("%w: %w", errs.UnusableDevice, err)
}

// timeoutErr wraps both the shared timeout sentinel and the context's error,
// as the contract asks, so errors.Is works against either.
func timeoutErr(ctxErr error) error {
	return fmt.Errorf("%w: %w", errs.Timeout, ctxErr)
}
