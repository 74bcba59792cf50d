package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

// mappingJSON is a mapping in --json output: add prints one per protocol;
// run prints one per event, with Event set.
type mappingJSON struct {
	Event       string     `json:"event,omitempty"` // run: mapped, renewed, lost, restored, failed, deleted …
	Method      string     `json:"method,omitempty"`
	Protocol    string     `json:"protocol"`
	External    string     `json:"external"`
	Internal    string     `json:"internal,omitempty"`
	Gateway     string     `json:"gateway,omitempty"`
	Expires     *time.Time `json:"expires"` // null: permanent
	Description string     `json:"description,omitempty"`
	Relay       string     `json:"relay,omitempty"` // add --relay / run: where the relay sends traffic
	Error       string     `json:"error,omitempty"`
	// Family is "ipv6" for a pinhole; empty for an IPv4 mapping.
	Family string `json:"family,omitempty"`
	// Pinhole is the IPv6 pinhole opened with an IPv4 mapping.
	Pinhole *mappingJSON `json:"pinhole,omitempty"`
	// OtherFamilyError is why the other family is missing (partial
	// success: the IPv6 pinhole's failure, or the IPv4 mapping's).
	OtherFamilyError string `json:"other_family_error,omitempty"`
	// Check is what the checker found (add --check).
	Check *verifyJSON `json:"check,omitempty"`
	// Legs are the routers of a mapping chained through a double NAT, the
	// gateway's first (External above is the last leg's: the address to
	// give out); absent for a mapping on one router.
	Legs []legJSON `json:"legs,omitempty"`
	// UpstreamError is why a mapping behind a double NAT has no upstream
	// leg, with the forward to make by hand.
	UpstreamError string `json:"upstream_error,omitempty"`
}

// legJSON is one router's part of a chained mapping.
type legJSON struct {
	Router   string     `json:"router"`
	Method   string     `json:"method"`
	External string     `json:"external"`
	Internal string     `json:"internal"`
	Expires  *time.Time `json:"expires"` // null: permanent
}

// mappingView is what add and run show about a mapping the library made.
func mappingView(m *upnpmap.Mapping, description string) mappingJSON {
	v := mappingOnlyView(m, description)
	if p := m.Pinhole(); p != nil {
		pv := mappingOnlyView(p, description)
		v.Pinhole = &pv
	}
	if err := m.OtherFamilyErr(); err != nil {
		v.OtherFamilyError = err.Error()
	}
	if legs := m.Legs(); len(legs) > 1 {
		for _, l := range legs {
			v.Legs = append(v.Legs, legJSON{Router: l.Router.String(), Method: string(l.Method),
				External: l.External.String(), Internal: l.Internal.String(), Expires: jsonTime(l.Expires)})
		}
	}
	if err := m.UpstreamErr(); err != nil {
		v.UpstreamError = safetext.Clean(err.Error(), safetext.Long)
	}
	return v
}

// rows renders a mapping for the people's table: one row, or one per leg
// of a chained mapping (the gateway's, then the upstream router's).
func (v mappingJSON) rows(now time.Time) [][]string {
	if len(v.Legs) == 0 {
		return [][]string{v.row(now)}
	}
	var out [][]string
	for i, l := range v.Legs {
		lv := v
		lv.External, lv.Method, lv.Expires = l.External, l.Method+" @"+l.Router, l.Expires
		if i > 0 {
			lv.Internal, lv.Relay = l.Internal, ""
		}
		out = append(out, lv.row(now))
	}
	return out
}

// innerExternal is the gateway's external address and port of m: the
// record `delete` needs (External is the upstream leg's when chained).
func innerExternal(m *upnpmap.Mapping) netip.AddrPort { return m.Legs()[0].External }

// mappingOnlyView is mappingView without the other family.
func mappingOnlyView(m *upnpmap.Mapping, description string) mappingJSON {
	fam := ""
	if m.Family() == upnpmap.IPv6 {
		fam = "ipv6"
	}
	return mappingJSON{
		Family:      fam,
		Method:      string(m.Method()),
		Protocol:    string(m.Protocol()),
		External:    m.External().String(),
		Internal:    m.Internal().String(),
		Gateway:     m.Gateway().String(),
		Expires:     jsonTime(m.Expires()),
		Description: description,
	}
}

var mappingHeader = []string{"PROTO", "EXTERNAL", "INTERNAL", "METHOD", "EXPIRES"}

// row renders a mapping for the people's table.
func (v mappingJSON) row(now time.Time) []string {
	internal := v.Internal
	if v.Relay != "" {
		internal += " -> " + v.Relay
	}
	var exp time.Time
	if v.Expires != nil {
		exp = *v.Expires
	}
	return []string{v.Protocol, v.External, internal, v.Method, formatExpiry(exp, now)}
}

// deleteHint tells how to remove what add left on the router.
func deleteHint(views []mappingJSON, ext uint16, protoFlags string) string {
	permanent := false
	for _, v := range views {
		permanent = permanent || v.Expires == nil
	}
	cmd := fmt.Sprintf("upnpmap delete %d%s", ext, protoFlags)
	if permanent {
		return fmt.Sprintf("The lease is permanent: remove it with `%s` when done.", cmd)
	}
	return fmt.Sprintf("It stays until it expires; `%s` removes it sooner.", cmd)
}

// protoFlagsFor renders --udp/--tcp for a hint, matching what was asked.
func protoFlagsFor(protos []string) string {
	if len(protos) == 1 && protos[0] == "udp" {
		return " --udp"
	}
	if len(protos) == 2 {
		return " --tcp --udp"
	}
	return ""
}

// upnpProto converts "tcp"/"udp" to the library's Protocol.
func upnpProto(p string) upnpmap.Protocol {
	if strings.EqualFold(p, "udp") {
		return upnpmap.UDP
	}
	return upnpmap.TCP
}
