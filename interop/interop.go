// Package interop checks gatewaytest against independent clients (goupnp,
// go-nat-pmp), so that our own clients are compared against a fake router
// that third-party code agrees with. It is a separate module: the peers never
// enter the main go.mod. The package itself only holds helpers that read the
// gateway's table; the checks are its tests.
//
// Run the tests inside a loopback-only network namespace (see TEAM.md):
//
//	ip netns exec t-interop go test -race ./...
package interop

import (
	"fmt"
	"strings"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// FindMapping returns the gateway's entry for a protocol ("TCP"/"UDP", any
// case) and external port.
func FindMapping(g *gatewaytest.Gateway, proto string, external uint16) (gatewaytest.Mapping, bool) {
	for _, m := range g.Mappings() {
		if m.Protocol == strings.ToUpper(proto) && m.ExternalPort == external {
			return m, true
		}
	}
	return gatewaytest.Mapping{}, false
}

// Describe renders the table one entry per line, for failure messages.
func Describe(g *gatewaytest.Gateway) string {
	var b strings.Builder
	for _, m := range g.Mappings() {
		fmt.Fprintf(&b, "%s %s %d -> %s:%d %q lifetime %v\n",
			m.Method, m.Protocol, m.ExternalPort, m.InternalAddr, m.InternalPort, m.Description, m.Lifetime)
	}
	if b.Len() == 0 {
		return "(empty table)\n"
	}
	return b.String()
}
