package upnpmap

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Report is what Diagnose found. Its JSON form is the object `upnpmap
// doctor --json` prints; the keys are documented on each field. Text that
// came from the router is capped and stripped of control and bidi
// characters.
type Report struct {
	// Port and Protocol are the port examined ("port", omitted when 0, and
	// "protocol").
	Port     uint16   `json:"port,omitempty"`
	Protocol Protocol `json:"protocol"`
	// Interfaces lists every interface considered, the chosen one marked,
	// each with the reason ("interfaces").
	Interfaces []InterfaceNote `json:"interfaces"`
	// Gateway is the router asked and Local this machine's address facing
	// it ("gateway", "local"; omitted when there was none).
	Gateway netip.Addr `json:"gateway,omitzero"`
	Local   netip.Addr `json:"local,omitzero"`
	// Methods is each method's answer and round trip ("methods").
	Methods []MethodAnswer `json:"methods"`
	// Device is the UPnP device, when UPnP answered ("device").
	Device *DeviceReport `json:"device,omitempty"`
	// External is the router's external address, where a method told it
	// ("external"); Observed is the address the Checker saw ("observed").
	External netip.Addr `json:"external,omitzero"`
	Observed netip.Addr `json:"observed,omitzero"`
	// NAT is the NAT situation ("nat").
	NAT NATStatus `json:"nat"`
	// Listening is what was found on Port on this machine ("listening";
	// omitted when Port is 0).
	Listening *ListenReport `json:"listening,omitempty"`
	// Stale lists the mappings this host left behind and the recorded ones
	// the router no longer has ("stale").
	Stale []StaleMapping `json:"stale,omitempty"`
	// Findings are the problems and hints, each with what to do
	// ("findings").
	Findings []Finding `json:"findings"`
	// PortCanWork is true when no finding of SeverityError stands in the
	// way: a mapping of Port can make it reachable ("port_can_work").
	PortCanWork bool `json:"port_can_work"`
	// Elapsed is how long Diagnose took ("elapsed_ms", fractional).
	Elapsed time.Duration `json:"-"`
}

// MarshalJSON adds elapsed_ms.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		ElapsedMS float64 `json:"elapsed_ms"`
	}{(*plain)(r), millis(r.Elapsed)})
}

// NATStatus names the NAT situation between this host and the Internet.
type NATStatus string

// The NAT situations Diagnose tells apart.
const (
	// NATOK: the router's external address is public (and, with a
	// Checker, the one the Internet sees).
	NATOK NATStatus = "OK"
	// NATCGNAT: the external address is in 100.64.0.0/10: the provider's
	// carrier-grade NAT is upstream, and mappings on the router are not
	// reachable from the Internet.
	NATCGNAT NATStatus = "CGNAT"
	// NATDouble: the external address is private: another router of the
	// LAN is upstream.
	NATDouble NATStatus = "DOUBLE_NAT"
	// NATUpstream: the external address looks public but the Checker saw
	// another one: a NAT upstream that the router cannot tell about.
	NATUpstream NATStatus = "UPSTREAM_NAT"
	// NATNotConnected: the router says its uplink is down.
	NATNotConnected NATStatus = "NOT_CONNECTED"
	// NATNoGateway: no gateway answered.
	NATNoGateway NATStatus = "NO_GATEWAY"
	// NATUnknown: no method told the external address.
	NATUnknown NATStatus = "UNKNOWN"
)

// Severities of a Finding.
const (
	// SeverityError: the port cannot work until this is fixed.
	SeverityError = "error"
	// SeverityWarning: the port may work, but this often breaks it.
	SeverityWarning = "warning"
	// SeverityInfo: worth knowing, nothing to fix.
	SeverityInfo = "info"
)

// A Finding is one thing Diagnose found, with what to do about it.
type Finding struct {
	// Code names the finding for scripts, e.g. BRIDGED, NOT_LISTENING
	// ("code").
	Code string `json:"code"`
	// Severity is SeverityError, SeverityWarning or SeverityInfo
	// ("severity").
	Severity string `json:"severity"`
	// What is the finding in a sentence ("what"); Fix what to do ("fix").
	What string `json:"what"`
	Fix  string `json:"fix,omitempty"`
}

// InterfaceNote is one interface Diagnose considered.
type InterfaceNote struct {
	Name     string         `json:"name"`
	Prefixes []netip.Prefix `json:"prefixes"`
	Chosen   bool           `json:"chosen"`
	Reason   string         `json:"reason"`
}

// MethodAnswer is what one method's probe got.
type MethodAnswer struct {
	Method   Method `json:"method"`
	Answered bool   `json:"answered"`
	// Elapsed is the round trip of the answer, or how long it waited
	// ("elapsed_ms", fractional). For UPnP it covers the SSDP search and
	// the description fetch.
	Elapsed time.Duration `json:"-"`
	// External is the external address it reported, if any.
	External netip.Addr `json:"external,omitzero"`
	// Error is why it did not answer usably ("error").
	Error string `json:"error,omitempty"`

	err error // behind Error
}

// MarshalJSON writes Elapsed as elapsed_ms.
func (m MethodAnswer) MarshalJSON() ([]byte, error) {
	type plain MethodAnswer
	return json.Marshal(struct {
		plain
		ElapsedMS float64 `json:"elapsed_ms"`
	}{plain(m), millis(m.Elapsed)})
}

// millis is d in milliseconds, to the microsecond: loopback and LAN round
// trips are well under one.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// DeviceReport is what the UPnP device says about itself and its uplink.
type DeviceReport struct {
	FriendlyName string `json:"friendly_name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	ModelName    string `json:"model_name,omitempty"`
	Location     string `json:"location,omitempty"`
	// ConnectionStatus is GetStatusInfo's answer ("Connected",
	// "Disconnected" …); "" when the device did not say.
	ConnectionStatus string `json:"connection_status,omitempty"`
	// ConnectionType is GetConnectionTypeInfo's answer: "IP_Routed" for a
	// NAT router, "IP_Bridged" for one that maps but does not translate.
	ConnectionType string `json:"connection_type,omitempty"`
	// LinkStatus is WANCommonInterfaceConfig's PhysicalLinkStatus ("Up",
	// "Down" …); "" when the device has no such service or did not say.
	LinkStatus string `json:"link_status,omitempty"`
	// Quirks are the catalogue's rows (docs/QUIRKS.md) that name this
	// device.
	Quirks []Quirk `json:"quirks,omitempty"`
}

// Quirk is a known behaviour of a router model, from docs/QUIRKS.md.
type Quirk struct {
	ID       string `json:"id"`
	Behavior string `json:"behavior"`
	Handling string `json:"handling"`
}

// ListenReport is what was found on the port on this machine.
type ListenReport struct {
	// Addr is where the check looked (TCP: connected to; UDP: tried to
	// bind).
	Addr netip.AddrPort `json:"addr"`
	// Listening: something accepts (TCP) or holds (UDP) the port there.
	Listening bool `json:"listening"`
	// LoopbackOnly: nothing on Addr, but something on 127.0.0.1: a service
	// that the router's forward cannot reach.
	LoopbackOnly bool `json:"loopback_only,omitempty"`
	// Limits says what the check cannot see.
	Limits string `json:"limits,omitempty"`
}

// Kinds of StaleMapping.
const (
	// StaleLeftBehind: a UPnP entry for this host with our description that
	// nothing holds, e.g. left by a killed program.
	StaleLeftBehind = "left-behind"
	// StaleGone: a recorded mapping the router no longer lists.
	StaleGone = "gone"
)

// StaleMapping is a mapping this host left behind, or a record of one the
// router has lost.
type StaleMapping struct {
	Kind        string         `json:"kind"`
	Method      Method         `json:"method"`
	Protocol    Protocol       `json:"protocol"`
	External    netip.AddrPort `json:"external"`
	Internal    netip.AddrPort `json:"internal"`
	Description string         `json:"description,omitempty"`
	// Removed: Cleanup deleted it from the router (StaleLeftBehind). A
	// StaleGone record is the caller's to drop.
	Removed bool `json:"removed,omitempty"`
	// Error is why Cleanup could not delete it.
	Error string `json:"error,omitempty"`
}

// answered reports whether some method answered.
func (r *Report) answered() bool {
	for _, m := range r.Methods {
		if m.Answered {
			return true
		}
	}
	return false
}

// portCanWork: a method answered and no finding is an error.
func (r *Report) portCanWork() bool {
	if !r.answered() {
		return false
	}
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}
