package igd

import (
	"errors"
	"strconv"
	"strings"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

// Sentinels shared with the other protocol packages and the front door (the
// values are those of internal/errs, so errors.Is works across packages).
var (
	// ErrConflict: 718 ConflictInMappingEntry and 729 ConflictWithOtherMechanisms.
	ErrConflict = errs.PortInUse
	// ErrOnlyPermanentLeases: 725 OnlyPermanentLeasesSupported.
	ErrOnlyPermanentLeases = errs.OnlyPermanentLeases
	// ErrNotAuthorized: 606 Action not authorized.
	ErrNotAuthorized = errs.NotAuthorized
	// ErrNoSuchEntry: 714 NoSuchEntryInArray and 730 PortMappingNotFound,
	// and 704 NoSuchEntry from the firewall actions (see IsPinholeGone).
	ErrNoSuchEntry = errs.NoSuchEntry
	// ErrInvalidArgs: 402 Invalid Args, 600, 601 and 605, and every
	// argument-shape code below (715, 716, 724, 726, 727, 732, 733). Also
	// wrapped by argument checks that fail before anything is sent.
	ErrInvalidArgs = errs.InvalidArgs
	// ErrNoResources: 728 NoPortMapsAvailable and 603 Out of Memory.
	ErrNoResources = errs.NoResources
	// ErrUnsupported: 401 Invalid Action and 602 Optional Action Not
	// Implemented; also returned without sending for an IGD:2 action on an
	// IGD:1 service.
	ErrUnsupported = errs.Unsupported
	// ErrMalformed: a reply that is not a well-formed SOAP response or UPnP
	// fault (see *ResponseError).
	ErrMalformed = errs.Malformed
	// ErrTimeout: no complete reply within Client.Timeout or the context's
	// deadline.
	ErrTimeout = errs.Timeout
)

// Sentinels of this package. Those with a parent in internal/errs match it
// too: errors.Is(err, ErrSamePortValuesRequired) and errors.Is(err,
// ErrInvalidArgs) both hold for a 724.
var (
	// ErrArrayIndexInvalid: 713 SpecifiedArrayIndexInvalid, the normal end of
	// a GetGenericPortMappingEntry enumeration.
	ErrArrayIndexInvalid error = &sentinel{"igd: array index invalid (end of list)", nil}
	// ErrActionFailed: 501 Action Failed. Back off and retry; some routers
	// answer it when their table is full (go-libp2p #3057).
	ErrActionFailed error = &sentinel{"igd: action failed", nil}
	// ErrWildcardNotPermittedInSrcIP: 715; send a specific RemoteHost.
	ErrWildcardNotPermittedInSrcIP error = &sentinel{"igd: wildcard not permitted in remote host", errs.InvalidArgs}
	// ErrWildcardNotPermittedInExtPort: 716; pick a concrete external port.
	ErrWildcardNotPermittedInExtPort error = &sentinel{"igd: wildcard not permitted in external port", errs.InvalidArgs}
	// ErrSamePortValuesRequired: 724; retry with external port = internal port.
	ErrSamePortValuesRequired error = &sentinel{"igd: external and internal port must be equal", errs.InvalidArgs}
	// ErrRemoteHostOnlySupportsWildcard: 726; send an empty RemoteHost.
	ErrRemoteHostOnlySupportsWildcard error = &sentinel{"igd: remote host must be the wildcard", errs.InvalidArgs}
	// ErrExternalPortOnlySupportsWildcard: 727; the gateway wants external port 0.
	ErrExternalPortOnlySupportsWildcard error = &sentinel{"igd: external port must be the wildcard", errs.InvalidArgs}
	// ErrWildcardNotPermittedInIntPort: 732.
	ErrWildcardNotPermittedInIntPort error = &sentinel{"igd: wildcard not permitted in internal port", errs.InvalidArgs}
	// ErrInconsistentParameters: 733 (for example start port above end port).
	ErrInconsistentParameters error = &sentinel{"igd: inconsistent parameters", errs.InvalidArgs}

	// ErrUnreachable: the control URL did not accept a connection (refused,
	// no route). After a restart miniupnpd listens on a new HTTP port
	// (go-libp2p #3224), so this usually means "rediscover the gateway".
	// It also matches errs.NoGateway, and the underlying *net.OpError stays
	// in the chain (errors.Is(err, syscall.ECONNREFUSED) holds on Unix).
	ErrUnreachable error = &sentinel{"igd: control URL unreachable", errs.NoGateway}
	// ErrNoExternalAddress: GetExternalIPAddress returned an empty or
	// unspecified address, which routers do while the WAN link is down. It
	// also matches errs.NetworkFailure.
	ErrNoExternalAddress error = &sentinel{"igd: gateway has no external address", errs.NetworkFailure}
	// ErrResponseTooLarge: the reply body exceeded Client.MaxBodySize. It
	// comes inside a *ResponseError, so errors.Is(err, ErrMalformed) holds
	// as well.
	ErrResponseTooLarge error = &sentinel{"igd: response body too large", nil}
	// ErrTruncated: ListPortMappings stopped at Client.MaxListEntries; the
	// entries returned with it are valid.
	ErrTruncated error = &sentinel{"igd: port mapping list truncated", nil}
)

// sentinel is an error value that may also match a shared sentinel.
type sentinel struct {
	msg    string
	parent error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.parent }

// UPnP error codes from UDA 1.1 §3.2.2 and WANIPConnection:1/2 §2.5.
const (
	CodeInvalidAction                    = 401
	CodeInvalidArgs                      = 402
	CodeActionFailed                     = 501
	CodeArgumentValueInvalid             = 600
	CodeArgumentValueOutOfRange          = 601
	CodeOptionalActionNotImplemented     = 602
	CodeOutOfMemory                      = 603
	CodeHumanInterventionRequired        = 604
	CodeStringArgumentTooLong            = 605
	CodeActionNotAuthorized              = 606
	CodeSpecifiedArrayIndexInvalid       = 713
	CodeNoSuchEntryInArray               = 714
	CodeWildCardNotPermittedInSrcIP      = 715
	CodeWildCardNotPermittedInExtPort    = 716
	CodeConflictInMappingEntry           = 718
	CodeSamePortValuesRequired           = 724
	CodeOnlyPermanentLeasesSupported     = 725
	CodeRemoteHostOnlySupportsWildcard   = 726
	CodeExternalPortOnlySupportsWildcard = 727
	CodeNoPortMapsAvailable              = 728
	CodeConflictWithOtherMechanisms      = 729
	CodePortMappingNotFound              = 730
	CodeWildCardNotPermittedInIntPort    = 732
	CodeInconsistentParameters           = 733
)

// codeInfo names each known code and the sentinel its *UPnPError unwraps to.
var codeInfo = map[int]struct {
	name string
	err  error
}{
	CodeInvalidAction:                    {"Invalid Action", errs.Unsupported},
	CodeInvalidArgs:                      {"Invalid Args", errs.InvalidArgs},
	CodeActionFailed:                     {"Action Failed", ErrActionFailed},
	CodeArgumentValueInvalid:             {"Argument Value Invalid", errs.InvalidArgs},
	CodeArgumentValueOutOfRange:          {"Argument Value Out of Range", errs.InvalidArgs},
	CodeOptionalActionNotImplemented:     {"Optional Action Not Implemented", errs.Unsupported},
	CodeOutOfMemory:                      {"Out of Memory", errs.NoResources},
	CodeHumanInterventionRequired:        {"Human Intervention Required", nil},
	CodeStringArgumentTooLong:            {"String Argument Too Long", errs.InvalidArgs},
	CodeActionNotAuthorized:              {"Action not authorized", errs.NotAuthorized},
	CodeSpecifiedArrayIndexInvalid:       {"SpecifiedArrayIndexInvalid", ErrArrayIndexInvalid},
	CodeNoSuchEntryInArray:               {"NoSuchEntryInArray", errs.NoSuchEntry},
	CodeWildCardNotPermittedInSrcIP:      {"WildCardNotPermittedInSrcIP", ErrWildcardNotPermittedInSrcIP},
	CodeWildCardNotPermittedInExtPort:    {"WildCardNotPermittedInExtPort", ErrWildcardNotPermittedInExtPort},
	CodeConflictInMappingEntry:           {"ConflictInMappingEntry", errs.PortInUse},
	CodeSamePortValuesRequired:           {"SamePortValuesRequired", ErrSamePortValuesRequired},
	CodeOnlyPermanentLeasesSupported:     {"OnlyPermanentLeasesSupported", errs.OnlyPermanentLeases},
	CodeRemoteHostOnlySupportsWildcard:   {"RemoteHostOnlySupportsWildcard", ErrRemoteHostOnlySupportsWildcard},
	CodeExternalPortOnlySupportsWildcard: {"ExternalPortOnlySupportsWildcard", ErrExternalPortOnlySupportsWildcard},
	CodeNoPortMapsAvailable:              {"NoPortMapsAvailable", errs.NoResources},
	CodeConflictWithOtherMechanisms:      {"ConflictWithOtherMechanisms", errs.PortInUse},
	CodePortMappingNotFound:              {"PortMappingNotFound", errs.NoSuchEntry},
	CodeWildCardNotPermittedInIntPort:    {"WildCardNotPermittedInIntPort", ErrWildcardNotPermittedInIntPort},
	CodeInconsistentParameters:           {"InconsistentParameters", ErrInconsistentParameters},
}

// ErrorName returns the name the UPnP specifications give a code, or "" for
// a code they do not define.
func ErrorName(code int) string { return codeInfo[code].name }

// UPnPError is a UPnP fault: the gateway understood the request and refused
// it with <UPnPError><errorCode>. Unwrap yields the sentinel for the code
// (see the Code constants and the Err variables), or nil for a code this
// package does not classify.
//
// Error() names the action and the code ("igd: AddPortMapping: 718
// ConflictInMappingEntry"), so that a fault is read in the context of the
// call that failed (a 718 from GetExternalIPAddress is not a port conflict).
type UPnPError struct {
	Action string // the SOAP action that failed, e.g. "AddPortMapping"
	Code   int    // errorCode
	// Description is the gateway's errorDescription, capped and stripped of
	// control and bidirectional-override characters (safetext.Clean, Short):
	// the router chooses every byte of it, and it reaches terminals and logs.
	// It may be empty.
	Description string
}

// FailedAction returns the SOAP action the gateway refused, e.g.
// "AddPortMapping". Callers that explain a fault (the CLI) use it through an
// interface, without importing this package.
func (e *UPnPError) FailedAction() string { return e.Action }

// UPnPCode returns the fault's errorCode.
func (e *UPnPError) UPnPCode() int { return e.Code }

func (e *UPnPError) Error() string {
	var b strings.Builder
	b.WriteString("igd: ")
	if e.Action != "" {
		b.WriteString(e.Action)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.Code))
	name := lookupCode(e.Action, e.Code).name
	if name == "" {
		b.WriteString(" UPnP error")
	} else {
		b.WriteString(" ")
		b.WriteString(name)
	}
	// Description is already clean (see newUPnPError); cleaning again keeps
	// a hand-built UPnPError safe too.
	if d := safetext.Clean(e.Description, safetext.Short); d != "" && !strings.EqualFold(d, name) {
		b.WriteString(" (router says: ")
		b.WriteString(d)
		b.WriteString(")")
	}
	return b.String()
}

// newUPnPError builds the error for a fault, cleaning the router's text.
func newUPnPError(action string, code int, description string) *UPnPError {
	return &UPnPError{Action: action, Code: code, Description: safetext.Clean(description, safetext.Short)}
}

// Unwrap returns the sentinel for e.Code, or nil. The firewall actions
// (AddPinhole …) have codes of their own in the 70x range; see
// FirewallErrorName.
func (e *UPnPError) Unwrap() error { return lookupCode(e.Action, e.Code).err }

// ResponseError reports a reply that is neither a well-formed SOAP response
// to the action nor a UPnP fault: a non-XML error page, a fault without
// <UPnPError>, a missing required out-argument, an unexpected HTTP status, an
// oversized body. It always matches ErrMalformed; Err, when set, is the
// underlying cause (an XML syntax error, ErrResponseTooLarge, …).
type ResponseError struct {
	Action     string
	StatusCode int    // the HTTP status of the reply
	Reason     string // what was wrong, for people
	Err        error  // underlying cause, or nil
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	b.WriteString("igd: ")
	if e.Action != "" {
		b.WriteString(e.Action)
		b.WriteString(": ")
	}
	b.WriteString("bad reply (HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	b.WriteString("): ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns errs.Malformed and, when set, the underlying cause.
func (e *ResponseError) Unwrap() []error {
	if e.Err == nil {
		return []error{errs.Malformed}
	}
	return []error{errs.Malformed, e.Err}
}

// IsRetryWithPermanentLease reports whether err is the gateway's way of
// saying "only lease 0 (permanent) works here": 725 OnlyPermanentLeasesSupported
// from any action, or 402 Invalid Args from AddPortMapping or
// AddAnyPortMapping, which several IGD:1 and IGD:2 stacks answer to a
// non-zero lease (Tailscale #9343, #15223; n0-computer/net-tools #52).
//
// It does not look at the request: retry once with LeaseDuration 0, and if
// that fails too, report the error. A permanent mapping stays on the router
// until it is deleted, so the caller must record it and DeletePortMapping it
// on shutdown.
func IsRetryWithPermanentLease(err error) bool {
	var ue *UPnPError
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Code {
	case CodeOnlyPermanentLeasesSupported:
		return true
	case CodeInvalidArgs:
		return ue.Action == actionAddPortMapping || ue.Action == actionAddAnyPortMapping
	}
	return false
}
