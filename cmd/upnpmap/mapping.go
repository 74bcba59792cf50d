package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap"
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
	return v
}

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
