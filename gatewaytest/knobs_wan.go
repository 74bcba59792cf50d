package gatewaytest

// wanKnobs override what the UPnP services say about the uplink; "" keeps
// the default answer.
type wanKnobs struct {
	connType string // GetConnectionTypeInfo's NewConnectionType
	status   string // GetStatusInfo's NewConnectionStatus
	link     string // GetCommonLinkProperties' NewPhysicalLinkStatus
}

// SetConnectionType sets what GetConnectionTypeInfo answers as
// NewConnectionType, e.g. "IP_Bridged" for a modem in bridge mode, which
// accepts mappings but translates nothing; "" restores "IP_Routed". Only
// the UPnP answer changes: the table and the other protocols work as
// before.
func (g *Gateway) SetConnectionType(t string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.wan.connType = t
}

// SetConnectionStatus sets what GetStatusInfo answers as
// NewConnectionStatus, e.g. "Disconnected" while the external address is
// still reported (as routers do for a while after the uplink dropped); ""
// restores the default ("Connected", or "Disconnected" without an external
// address, see SetExternalAddr).
func (g *Gateway) SetConnectionStatus(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.wan.status = s
}

// SetLinkStatus sets what WANCommonInterfaceConfig's GetCommonLinkProperties
// answers as NewPhysicalLinkStatus, e.g. "Down" for an unplugged uplink; ""
// restores "Up".
func (g *Gateway) SetLinkStatus(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.wan.link = s
}
