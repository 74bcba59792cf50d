package main

import (
	"context"
	"errors"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// Exit codes, as documented in `upnpmap help` and the README.
const (
	exitOK        = 0
	exitUsage     = 1 // a bad command line, or a local failure (cannot listen, cannot write the state file)
	exitNoGateway = 2 // nothing answered on any method tried
	exitRefused   = 3 // the router answered, and said no
	exitTimeout   = 4 // the router was found but stopped answering in time
)

// refusals are the answers with which a router says no. They come from the
// protocol packages' typed errors (NAT-PMP/PCP result codes, UPnP error
// codes), which all unwrap to these sentinels.
var refusals = []error{
	errs.NotAuthorized, errs.PortInUse, errs.NoResources, errs.NetworkFailure,
	errs.Unsupported, errs.OnlyPermanentLeases, errs.NoSuchEntry, errs.InvalidArgs,
	errs.Malformed,
}

// exitCode maps an error to the process exit status. The order matters: an
// error that wraps both NoGateway and Timeout (nothing answered before the
// deadline) is "no gateway", not "timeout".
func exitCode(err error) int {
	var ue *usageErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errs.NoGateway):
		return exitNoGateway
	case errors.Is(err, errs.Timeout), errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	}
	for _, r := range refusals {
		if errors.Is(err, r) {
			return exitRefused
		}
	}
	return exitUsage
}
