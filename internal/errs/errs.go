// Package errs holds the sentinel errors that every protocol package and the
// front door share, so that errors.Is(err, upnpmap.ErrNotAuthorized) holds
// whether err came from natpmp, pcp or igd. Each public package re-exports the
// ones it can return under its own name; the values are identical.
package errs

//lint:file-ignore ST1012 the package name is the prefix: errs.NotAuthorized reads as ErrNotAuthorized, and every public package re-exports these under Err names.

import "errors"

var (
	// NoGateway: no gateway answered on any enabled method.
	NoGateway = errors.New("no gateway answered")
	// NotAuthorized: the gateway refused (NAT-PMP 2, PCP NOT_AUTHORIZED, UPnP 606,
	// and UPnP secure mode refusing a mapping for another host).
	NotAuthorized = errors.New("gateway refused: not authorized")
	// PortInUse: the external port is held by another mapping (UPnP 718/729,
	// PCP CANNOT_PROVIDE_EXTERNAL).
	PortInUse = errors.New("external port in use")
	// NoResources: the gateway has no room for another mapping (NAT-PMP 4, PCP
	// NO_RESOURCES/USER_EX_QUOTA, UPnP 728).
	NoResources = errors.New("gateway out of resources")
	// NetworkFailure: the gateway itself has no working uplink (NAT-PMP 3, PCP
	// NETWORK_FAILURE).
	NetworkFailure = errors.New("gateway network failure")
	// Unsupported: the gateway does not speak this version, opcode, option or
	// protocol.
	Unsupported = errors.New("not supported by the gateway")
	// OnlyPermanentLeases: UPnP 725; retry with lease 0 and delete explicitly.
	OnlyPermanentLeases = errors.New("gateway only supports permanent leases")
	// NoSuchEntry: the mapping does not exist (UPnP 714, 730).
	NoSuchEntry = errors.New("no such mapping")
	// Malformed: a reply or request could not be parsed.
	Malformed = errors.New("malformed message")
	// InvalidArgs: the gateway rejected the arguments (UPnP 402, PCP
	// MALFORMED_REQUEST/MALFORMED_OPTION).
	InvalidArgs = errors.New("gateway rejected the arguments")
	// Refused: the gateway answered with a result code that names no more
	// specific cause (an unknown NAT-PMP or PCP result code, an unlisted UPnP
	// error). Any answer that says no is a refusal, never a usage error.
	Refused = errors.New("gateway refused the request")
	// UnusableDevice: something answered at the gateway's address, but its UPnP
	// description is too big, malformed, or offers no port-mapping service.
	// It is not NoGateway: a gateway is there, and naming it again will not help.
	UnusableDevice = errors.New("gateway's UPnP description offers no usable port-mapping service")
	// Timeout: no answer within the budget (wrapped together with the context's
	// own error where one applies).
	Timeout = errors.New("no answer from the gateway")
)
