package upnpmap

import "github.com/upnpmap/upnpmap/internal/errs"

// Sentinel errors. They are the same values the protocol packages (natpmp,
// pcp, igd, discovery) return, so errors.Is(err, upnpmap.ErrNotAuthorized)
// holds whichever method produced err.
var (
	// ErrNoGateway: no gateway was found, or none answered on any enabled
	// method within the probe budget.
	ErrNoGateway = errs.NoGateway
	// ErrNotAuthorized: the gateway refused (NAT-PMP 2, PCP NOT_AUTHORIZED,
	// UPnP 606, UPnP secure mode refusing a mapping for another host).
	ErrNotAuthorized = errs.NotAuthorized
	// ErrPortInUse: the external port belongs to another mapping (UPnP
	// 718/729, PCP CANNOT_PROVIDE_EXTERNAL) and Request.ExactPort forbade
	// another port, or no free port was found.
	ErrPortInUse = errs.PortInUse
	// ErrNoResources: the gateway's table is full.
	ErrNoResources = errs.NoResources
	// ErrNetworkFailure: the gateway has no working uplink.
	ErrNetworkFailure = errs.NetworkFailure
	// ErrUnsupported: the gateway does not speak what was asked (a version,
	// opcode, option, or a mapping for another host over NAT-PMP).
	ErrUnsupported = errs.Unsupported
	// ErrOnlyPermanentLeases: UPnP 725. Map handles it (it retries with a
	// permanent lease and deletes it on Close); it reaches callers only from
	// lower layers.
	ErrOnlyPermanentLeases = errs.OnlyPermanentLeases
	// ErrNoSuchEntry: the mapping does not exist (UPnP 714/730), e.g. from
	// Client.Delete.
	ErrNoSuchEntry = errs.NoSuchEntry
	// ErrMalformed: a reply could not be parsed.
	ErrMalformed = errs.Malformed
	// ErrInvalidArgs: the request was invalid (a zero internal port, an
	// unknown protocol or method) or the gateway rejected its arguments.
	ErrInvalidArgs = errs.InvalidArgs
	// ErrRefused: the gateway answered no with a result code that names no
	// more specific cause (an unknown NAT-PMP or PCP code, an unlisted UPnP
	// error).
	ErrRefused = errs.Refused
	// ErrUnusableDevice: a UPnP device answered but its description is too
	// big, malformed, or offers no port-mapping service.
	ErrUnusableDevice = errs.UnusableDevice
	// ErrTimeout: no answer within the budget. Where a context ended the
	// wait, the error also wraps the context's error.
	ErrTimeout = errs.Timeout
)
