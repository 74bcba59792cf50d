package igd

import "github.com/upnpmap/upnpmap/internal/errs"

// Error codes of WANIPv6FirewallControl:1 (§2.4 of the service template; the
// names are the specification's). The 70x range means something else in
// WANIPConnection (703 is InactiveConnectionStateRequired there), so a
// *UPnPError names and classifies these codes only when its Action is one of
// the firewall actions. 606 Action not authorized is shared and keeps its
// meaning: for a pinhole it is the gateway's security policy (the request
// did not come from InternalClient, or InternalPort is below 1024).
const (
	// CodePinholeSpaceExhausted: the firewall has no room for another pinhole.
	CodePinholeSpaceExhausted = 701
	// CodeFirewallDisabled: the IPv6 firewall is off; inbound traffic is
	// not filtered, so there is nothing to open.
	CodeFirewallDisabled = 702
	// CodeInboundPinholeNotAllowed: the firewall is on and its policy
	// forbids inbound pinholes.
	CodeInboundPinholeNotAllowed = 703
	// CodeNoSuchEntry: no pinhole has this UniqueID (expired or deleted).
	CodeNoSuchEntry = 704
	// CodeProtocolNotSupported: the protocol number is not one the
	// firewall filters (miniupnpd takes TCP, UDP and UDP-Lite).
	CodeProtocolNotSupported = 705
	// CodeInternalPortWildcardingNotAllowed: InternalPort 0 refused.
	CodeInternalPortWildcardingNotAllowed = 706
	// CodeProtocolWildcardingNotAllowed: Protocol 65535 refused.
	CodeProtocolWildcardingNotAllowed = 707
	// CodeFirewallWildCardNotPermittedInSrcIP: InternalClient empty or a
	// wildcard. The specification calls it WildCardNotPermittedInSrcIP,
	// like WANIPConnection's 715, hence the prefix.
	CodeFirewallWildCardNotPermittedInSrcIP = 708
	// CodeNoTrafficReceived: CheckPinholeWorking saw no packet through the
	// pinhole. miniupnpd says "NoPacketSent" and answers it for every
	// pinhole, because its rules carry no counters.
	CodeNoTrafficReceived = 709
)

// Sentinels of the firewall service. Those with a parent in internal/errs
// match it too.
var (
	// ErrPinholeSpaceExhausted: 701. It also matches ErrNoResources.
	ErrPinholeSpaceExhausted error = &sentinel{"igd: pinhole space exhausted", errs.NoResources}
	// ErrFirewallDisabled: 702. The gateway does not filter inbound IPv6,
	// so the port is already reachable (if nothing else filters it). It also
	// matches errs.Refused: no pinhole was made.
	ErrFirewallDisabled error = &sentinel{"igd: IPv6 firewall is disabled (no pinhole needed)", errs.Refused}
	// ErrInboundPinholeNotAllowed: 703, the gateway's policy forbids
	// pinholes. It also matches ErrNotAuthorized.
	ErrInboundPinholeNotAllowed error = &sentinel{"igd: inbound pinholes not allowed", errs.NotAuthorized}
	// ErrProtocolNotSupported: 705. It also matches ErrUnsupported.
	ErrProtocolNotSupported error = &sentinel{"igd: protocol not supported by the firewall", errs.Unsupported}
	// ErrProtocolWildcardNotAllowed: 707. It also matches ErrInvalidArgs.
	ErrProtocolWildcardNotAllowed error = &sentinel{"igd: wildcard not permitted in protocol", errs.InvalidArgs}
	// ErrNoTrafficReceived: 709, CheckPinholeWorking's "cannot tell": no
	// packet went through the pinhole yet. It is not a refusal and does not
	// mean the pinhole is broken.
	ErrNoTrafficReceived error = &sentinel{"igd: no traffic received through the pinhole", nil}
)

// firewallCodeInfo is codeInfo for the firewall actions; codes not in it
// (402, 501, 606 …) fall back to codeInfo. 706 and 708 reuse the
// WANIPConnection sentinels of the same meaning (732 and 715).
var firewallCodeInfo = map[int]struct {
	name string
	err  error
}{
	CodePinholeSpaceExhausted:               {"PinholeSpaceExhausted", ErrPinholeSpaceExhausted},
	CodeFirewallDisabled:                    {"FirewallDisabled", ErrFirewallDisabled},
	CodeInboundPinholeNotAllowed:            {"InboundPinholeNotAllowed", ErrInboundPinholeNotAllowed},
	CodeNoSuchEntry:                         {"NoSuchEntry", errs.NoSuchEntry},
	CodeProtocolNotSupported:                {"ProtocolNotSupported", ErrProtocolNotSupported},
	CodeInternalPortWildcardingNotAllowed:   {"InternalPortWildcardingNotAllowed", ErrWildcardNotPermittedInIntPort},
	CodeProtocolWildcardingNotAllowed:       {"ProtocolWildcardingNotAllowed", ErrProtocolWildcardNotAllowed},
	CodeFirewallWildCardNotPermittedInSrcIP: {"WildCardNotPermittedInSrcIP", ErrWildcardNotPermittedInSrcIP},
	CodeNoTrafficReceived:                   {"NoTrafficReceived", ErrNoTrafficReceived},
}

// FirewallErrorName returns the name WANIPv6FirewallControl:1 gives a code
// (701–709, and the shared codes ErrorName knows), or "".
func FirewallErrorName(code int) string { return lookupCode(actionAddPinhole, code).name }

// lookupCode returns the name and sentinel of code as an answer to action:
// the firewall table first for the firewall actions, then the common one.
func lookupCode(action string, code int) struct {
	name string
	err  error
} {
	if isFirewallAction(action) {
		if info, ok := firewallCodeInfo[code]; ok {
			return info
		}
	}
	return codeInfo[code]
}

func isFirewallAction(action string) bool {
	switch action {
	case actionGetFirewallStatus, actionGetOutboundPinholeTimeout, actionAddPinhole,
		actionUpdatePinhole, actionDeletePinhole, actionGetPinholePackets, actionCheckPinholeWorking:
		return true
	}
	return false
}
