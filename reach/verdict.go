package reach

import "net/netip"

// Verdict is the client's conclusion for one address family.
type Verdict int

const (
	// Unchecked: this family was not checked (the checker has no address
	// of it, or the check failed: see Outcome.Err).
	Unchecked Verdict = iota
	// Open: the checker got through. With Outcome.Verified the probe's nonce
	// came back, so it reached this machine; without, something accepted
	// the connection (an application is listening).
	Open
	// Refused: the checker was refused (TCP reset, ICMP port unreachable)
	// although something listens on the local port: the path does not lead
	// here (no mapping, a mapping to another host or port, a firewall that
	// rejects).
	Refused
	// Filtered: no answer to the probe: dropped on the way, or a UDP
	// application that does not answer strangers.
	Filtered
	// NothingListening: the checker was refused and nothing on this machine
	// listens on the local port. The mapping may be fine; start the
	// application, or check with Client.Answer to prove the path first.
	NothingListening
)

// String gives the verdict's name as printed and in JSON.
func (v Verdict) String() string {
	switch v {
	case Open:
		return "open"
	case Refused:
		return "refused"
	case Filtered:
		return "filtered"
	case NothingListening:
		return "nothing-listening"
	}
	return "unchecked"
}

// Outcome is the check of one address family.
type Outcome struct {
	Verdict Verdict
	// Verified: the probe's nonce came back to us (through our answering
	// listener, or an echo the checker saw), so the probe crossed the path.
	Verified bool
	// Observed is the address and port the checker saw the request come
	// from: the public address of this family, as seen from outside.
	Observed netip.AddrPort
	// Checker is the checker's address that was asked.
	Checker netip.AddrPort
	// Code is the checker's own verdict code.
	Code Code
	// Err is why this family has no verdict; nil when it has one or was not
	// tried.
	Err error
}

// Result is a check of one port, per address family.
type Result struct {
	Port       uint16
	Proto      Proto
	IPv4, IPv6 Outcome
}

// Open reports whether some family is open.
func (r Result) Open() bool { return r.IPv4.Verdict == Open || r.IPv6.Verdict == Open }

// MarshalText writes the verdict's name, so that JSON shows "open".
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }
