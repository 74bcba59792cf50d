package upnpmap

import (
	"fmt"
	"strings"
)

// Method is a port-mapping protocol.
type Method string

// The methods, in the order Map prefers them.
const (
	PCP    Method = "pcp"    // Port Control Protocol, RFC 6887
	NATPMP Method = "natpmp" // NAT Port Mapping Protocol, RFC 6886
	UPnP   Method = "upnp"   // UPnP Internet Gateway Device (WANIPConnection, WANPPPConnection)
)

// defaultMethods is the preference order when Client.Methods is empty.
var defaultMethods = []Method{PCP, NATPMP, UPnP}

// ParseMethod accepts "pcp", "natpmp" (also "nat-pmp", "pmp"), "upnp" and
// "ssh", in any case.
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(s) {
	case "pcp":
		return PCP, nil
	case "natpmp", "nat-pmp", "pmp":
		return NATPMP, nil
	case "upnp", "igd":
		return UPnP, nil
	case "ssh":
		return SSH, nil
	}
	return "", fmt.Errorf("upnpmap: %w: unknown method %q (want pcp, natpmp, upnp or ssh)", ErrInvalidArgs, s)
}
