package upnpmap

import (
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/upnpmap/upnpmap/discovery"
)

// A VRRP or CARP pair of routers shares a floating gateway address, but its
// active member answers SSDP from its own static address and names that
// address in LOCATION (tailscale#5502). Tailscale accepts such an answer and
// rewrites the LOCATION host to the gateway; so do we, within limits that
// keep the rule of DESIGN.md (never talk to anyone but the gateway):
//   - only answers to the unicast search count: that search went to the
//     gateway's address alone, so its answer is the gateway's whatever its
//     source; a multicast answer from another address is another device;
//   - only answers for an IGD search target;
//   - the LOCATION host becomes the gateway address (port and path kept),
//     so the description, and the control URLs pinned to its host, are
//     fetched from the gateway and never from the responder or from a third
//     host that LOCATION named.

// gatewayAnswer returns r as an answer of the gateway gw: unchanged when it
// came from gw, with its LOCATION moved to gw when it is an IGD answer to the
// unicast search from another address (see above); ok is false otherwise.
func gatewayAnswer(r discovery.Response, gw netip.Addr, unicast bool) (discovery.Response, bool) {
	if r.Location == nil {
		return r, false
	}
	if r.From.Addr().Unmap() == gw {
		return r, true
	}
	if !unicast || !igdTarget(r.ST) {
		return r, false
	}
	r.Location = atHost(r.Location, gw)
	return r, true
}

// igdTarget says whether st is the search target of an Internet gateway
// device or its connection services, any version.
func igdTarget(st string) bool {
	for _, p := range []string{
		"urn:schemas-upnp-org:device:InternetGatewayDevice:",
		"urn:schemas-upnp-org:service:WANIPConnection:",
		"urn:schemas-upnp-org:service:WANPPPConnection:",
	} {
		if strings.HasPrefix(st, p) {
			return true
		}
	}
	return false
}

// atHost returns a copy of u whose host is a, keeping u's port (none means
// 80) and path.
func atHost(u *url.URL, a netip.Addr) *url.URL {
	v := *u
	host := a.String()
	if a.Is6() {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		host = net.JoinHostPort(a.String(), p)
	}
	v.Host = host
	return &v
}
