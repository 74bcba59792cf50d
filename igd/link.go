package igd

import (
	"context"
	"strings"
)

// ServiceWANCommonIFC1 is the WANDevice's WANCommonInterfaceConfig service,
// which reports the state of the physical uplink. A Client for it takes its
// own control URL (not the connection service's).
const ServiceWANCommonIFC1 = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"

const actionGetCommonLinkProperties = "GetCommonLinkProperties"

// LinkProperties is the reply of GetCommonLinkProperties.
type LinkProperties struct {
	// AccessType: "DSL", "POTS", "Cable", "Ethernet" …
	AccessType string
	// PhysicalLinkStatus: "Up", "Down", "Initializing", "Unavailable".
	PhysicalLinkStatus string
}

// Up reports whether PhysicalLinkStatus says the uplink is up, in any case.
func (l *LinkProperties) Up() bool {
	return strings.EqualFold(strings.TrimSpace(l.PhysicalLinkStatus), "Up")
}

// GetCommonLinkProperties asks a WANCommonInterfaceConfig service (the
// Client's ServiceType is ServiceWANCommonIFC1) for the uplink's type and
// physical state. Only NewPhysicalLinkStatus is required in the reply: the
// bit rates are left out, and some routers omit the access type.
func (c *Client) GetCommonLinkProperties(ctx context.Context) (*LinkProperties, error) {
	r, err := c.call(ctx, actionGetCommonLinkProperties, nil)
	if err != nil {
		return nil, err
	}
	f := r.fields()
	l := &LinkProperties{
		AccessType:         f.str("NewWANAccessType", false),
		PhysicalLinkStatus: f.str("NewPhysicalLinkStatus", true),
	}
	if f.err != nil {
		return nil, r.bad(f.err)
	}
	return l, nil
}
