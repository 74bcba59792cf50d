package pcp

import (
	"fmt"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// ResultCode is a PCP result code (RFC 6887 §7.4).
type ResultCode uint8

// The result codes of RFC 6887 §7.4.
const (
	Success               ResultCode = 0
	UnsuppVersion         ResultCode = 1
	NotAuthorized         ResultCode = 2
	MalformedRequest      ResultCode = 3
	UnsuppOpcode          ResultCode = 4
	UnsuppOption          ResultCode = 5
	MalformedOption       ResultCode = 6
	NetworkFailure        ResultCode = 7
	NoResources           ResultCode = 8
	UnsuppProtocol        ResultCode = 9
	UserExQuota           ResultCode = 10
	CannotProvideExternal ResultCode = 11
	AddressMismatch       ResultCode = 12
	ExcessiveRemotePeers  ResultCode = 13
)

var resultNames = [...]string{
	"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
	"UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
	"USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
}

func (c ResultCode) String() string {
	if int(c) < len(resultNames) {
		return resultNames[c]
	}
	return fmt.Sprintf("result code %d", uint8(c))
}

// Errors the package returns, to test with errors.Is. The shared ones are the
// values of internal/errs (the same as natpmp's, igd's and upnpmap's); the
// PCP-specific ones wrap the nearest shared one, so errors.Is(err,
// errs.Unsupported) holds for every UNSUPP_* code, for example.
var (
	// ErrSpeaksNATPMP: the server answered with NAT-PMP's "unsupported
	// version" (version 0, RFC 6887 §9): it speaks NAT-PMP, not PCP.
	ErrSpeaksNATPMP = fmt.Errorf("pcp: the server speaks NAT-PMP, not PCP: %w", errs.Unsupported)

	ErrUnsuppVersion        = fmt.Errorf("pcp: unsupported version: %w", errs.Unsupported)
	ErrUnsuppOpcode         = fmt.Errorf("pcp: unsupported opcode: %w", errs.Unsupported)
	ErrUnsuppOption         = fmt.Errorf("pcp: unsupported option: %w", errs.Unsupported)
	ErrUnsuppProtocol       = fmt.Errorf("pcp: unsupported protocol: %w", errs.Unsupported)
	ErrMalformedRequest     = fmt.Errorf("pcp: malformed request: %w", errs.InvalidArgs)
	ErrMalformedOption      = fmt.Errorf("pcp: malformed option: %w", errs.InvalidArgs)
	ErrUserExQuota          = fmt.Errorf("pcp: user exceeded quota: %w", errs.NoResources)
	ErrExcessiveRemotePeers = fmt.Errorf("pcp: excessive remote peers (FILTER): %w", errs.NoResources)
	// ErrAddressMismatch: the client address in the request was not the
	// packet's source as the server saw it: another NAT sits between this
	// host and the server, or the request left from another address than
	// the one it names. It is a refusal (errs.Refused) like any result code.
	ErrAddressMismatch = fmt.Errorf("pcp: address mismatch: a NAT between this host and the PCP server, or a wrong source address: %w", errs.Refused)

	ErrNotAuthorized  = errs.NotAuthorized
	ErrNetworkFailure = errs.NetworkFailure
	ErrNoResources    = errs.NoResources
	ErrPortInUse      = errs.PortInUse // CANNOT_PROVIDE_EXTERNAL
	ErrNoSuchEntry    = errs.NoSuchEntry
	ErrUnsupported    = errs.Unsupported
	ErrInvalidArgs    = errs.InvalidArgs
	ErrTimeout        = errs.Timeout
	ErrMalformed      = errs.Malformed
	ErrNoGateway      = errs.NoGateway
	// ErrRefused matches ADDRESS_MISMATCH and every result code RFC 6887
	// does not define.
	ErrRefused = errs.Refused
)

// ResultError is a response with a result code other than SUCCESS.
type ResultError struct {
	Opcode uint8 // the request's opcode
	Code   ResultCode
	// Lifetime is how long the server expects the same request to fail
	// (§7.2): a retry-after hint. miniupnpd sends 30 s for NETWORK_FAILURE,
	// NO_RESOURCES and USER_EX_QUOTA and 0 for the rest, so treat small
	// values as "not soon" rather than "at once".
	Lifetime time.Duration
	// Version is the response's version; for UNSUPP_VERSION, the version the
	// server speaks (§9).
	Version uint8
}

func (e *ResultError) Error() string {
	s := fmt.Sprintf("pcp: %s: server answered %s", opName(e.Opcode), e.Code)
	if e.Code == UnsuppVersion && e.Version != Version {
		s += fmt.Sprintf(" (it speaks version %d)", e.Version)
	}
	if e.Lifetime > 0 {
		s += fmt.Sprintf(", for %v", e.Lifetime)
	}
	return s
}

// Unwrap returns the sentinel for Code; a code RFC 6887 does not define
// unwraps to ErrRefused (errs.Refused): the server said no, for a reason
// this client cannot name.
func (e *ResultError) Unwrap() error {
	switch e.Code {
	case UnsuppVersion:
		return ErrUnsuppVersion
	case NotAuthorized:
		return ErrNotAuthorized
	case MalformedRequest:
		return ErrMalformedRequest
	case UnsuppOpcode:
		return ErrUnsuppOpcode
	case UnsuppOption:
		return ErrUnsuppOption
	case MalformedOption:
		return ErrMalformedOption
	case NetworkFailure:
		return ErrNetworkFailure
	case NoResources:
		return ErrNoResources
	case UnsuppProtocol:
		return ErrUnsuppProtocol
	case UserExQuota:
		return ErrUserExQuota
	case CannotProvideExternal:
		return ErrPortInUse
	case AddressMismatch:
		return ErrAddressMismatch
	case ExcessiveRemotePeers:
		return ErrExcessiveRemotePeers
	}
	return ErrRefused
}

func opName(op uint8) string {
	switch op {
	case OpAnnounce:
		return "ANNOUNCE"
	case OpMap:
		return "MAP"
	case OpPeer:
		return "PEER"
	}
	return fmt.Sprintf("opcode %d", op)
}
