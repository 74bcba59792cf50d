package igd

import (
	"strconv"
	"strings"
)

// Service types this package speaks, by their URN.
const (
	ServiceWANIP2  = "urn:schemas-upnp-org:service:WANIPConnection:2"
	ServiceWANIP1  = "urn:schemas-upnp-org:service:WANIPConnection:1"
	ServiceWANPPP2 = "urn:schemas-upnp-org:service:WANPPPConnection:2"
	ServiceWANPPP1 = "urn:schemas-upnp-org:service:WANPPPConnection:1"
	// The DSL Forum's (TR-064) names for the same services, which some
	// gateways use in their IGD description instead of the UPnP Forum's
	// (Huawei HG531, Tailscale #10911). The actions and arguments are the
	// same; only the namespace differs, and it is sent as given.
	ServiceDSLWANIP1  = "urn:dslforum-org:service:WANIPConnection:1"
	ServiceDSLWANPPP1 = "urn:dslforum-org:service:WANPPPConnection:1"
)

// ServiceTypes lists the connection services in the order a caller should
// prefer them: IGD:2 first, because several routers expose only
// WANIPConnection:2 (and miniupnpd built with IGD:2 does), then the IGD:1 IP
// service, then PPP (version 2 is the Orange Livebox's only service), then
// the DSL Forum's legacy names. Pass it to the description's
// Services/Usable, build a Client per service found, and let Choose pick
// among them by their connection status. Treat the slice as read-only.
var ServiceTypes = []string{
	ServiceWANIP2, ServiceWANIP1,
	ServiceWANPPP2, ServiceWANPPP1,
	ServiceDSLWANIP1, ServiceDSLWANPPP1,
}

// Protocol names as the gateway expects them. Arguments are upper-cased
// before sending because some routers reject "tcp" (Tailscale #7377).
const (
	TCP = "TCP"
	UDP = "UDP"
)

// serviceVersion returns the trailing version number of a service type
// ("urn:…:WANIPConnection:2" → 2), or 0 when there is none.
func serviceVersion(serviceType string) int {
	i := strings.LastIndexByte(serviceType, ':')
	if i < 0 {
		return 0
	}
	v, err := strconv.Atoi(serviceType[i+1:])
	if err != nil || v < 0 {
		return 0
	}
	return v
}
