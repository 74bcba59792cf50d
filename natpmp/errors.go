package natpmp

import (
	"fmt"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// ResultCode is the 16-bit result code of a NAT-PMP response (RFC 6886 §3.5).
type ResultCode uint16

// The result codes RFC 6886 §3.5 defines.
const (
	Success            ResultCode = 0
	UnsupportedVersion ResultCode = 1
	NotAuthorized      ResultCode = 2 // "Not Authorized/Refused", e.g. NAT-PMP disabled
	NetworkFailure     ResultCode = 3 // the gateway has no external address yet
	OutOfResources     ResultCode = 4 // no more mappings, or no free port
	UnsupportedOpcode  ResultCode = 5
)

func (c ResultCode) String() string {
	switch c {
	case Success:
		return "success"
	case UnsupportedVersion:
		return "unsupported version"
	case NotAuthorized:
		return "not authorized/refused"
	case NetworkFailure:
		return "network failure"
	case OutOfResources:
		return "out of resources"
	case UnsupportedOpcode:
		return "unsupported opcode"
	}
	return fmt.Sprintf("unknown result code %d", uint16(c))
}

// Errors the package returns, to test with errors.Is. Most are the shared
// values of internal/errs, so the same test works for PCP and UPnP errors;
// the two "unsupported" ones are distinct but also match errs.Unsupported.
var (
	ErrUnsupportedVersion = fmt.Errorf("natpmp: unsupported version: %w", errs.Unsupported)
	ErrUnsupportedOpcode  = fmt.Errorf("natpmp: unsupported opcode: %w", errs.Unsupported)
	ErrNotAuthorized      = errs.NotAuthorized
	ErrNetworkFailure     = errs.NetworkFailure
	ErrOutOfResources     = errs.NoResources
	ErrTimeout            = errs.Timeout
	ErrMalformed          = errs.Malformed
	ErrNoGateway          = errs.NoGateway
	// ErrRefused matches a result code RFC 6886 does not define.
	ErrRefused = errs.Refused
	// ErrUnsupported matches ErrUnsupportedVersion, ErrUnsupportedOpcode and
	// a closed port 5351 (ICMP port unreachable): NAT-PMP is not available.
	ErrUnsupported = errs.Unsupported
)

// ResultError is a response with a non-zero result code. Unwrap returns the
// matching sentinel; a code RFC 6886 does not define unwraps to
// errs.Refused (upnpmap.ErrRefused): §3.5 says a client must treat it as
// fatal, and it is the router saying no all the same, not a usage error.
type ResultError struct {
	Op   uint8 // the request opcode: 0 external address, 1 map UDP, 2 map TCP
	Code ResultCode
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("natpmp: %s: gateway answered %d (%s)", opName(e.Op), uint16(e.Code), e.Code)
}

// Unwrap returns the sentinel for Code.
func (e *ResultError) Unwrap() error {
	switch e.Code {
	case UnsupportedVersion:
		return ErrUnsupportedVersion
	case NotAuthorized:
		return ErrNotAuthorized
	case NetworkFailure:
		return ErrNetworkFailure
	case OutOfResources:
		return ErrOutOfResources
	case UnsupportedOpcode:
		return ErrUnsupportedOpcode
	}
	return ErrRefused
}

func opName(op uint8) string {
	switch op {
	case OpExternalAddress:
		return "external address"
	case OpMapUDP:
		return "map UDP"
	case OpMapTCP:
		return "map TCP"
	}
	return fmt.Sprintf("opcode %d", op)
}
