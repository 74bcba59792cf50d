package gatewaytest

// downActionFailed is the UPnP error a down connection answers port-mapping
// actions with (501 ActionFailed: the WAN it would forward from is not up).
const downActionFailed = 501

// SetServiceDown marks the connection service whose controlURL path is
// control (as the description gives it, e.g. "/upnp/control/wanipconn-1")
// as having its WAN down, or up again: its GetStatusInfo answers
// Disconnected and its AddPortMapping and AddAnyPortMapping fail with 501
// ActionFailed, while the device's other connection services go on as
// before. It plays a multi-WAN router (MikroTik) with one uplink
// unplugged, where a client must map on the connected one. Captured SOAP
// bodies (Config.Replay) do not override it.
func (g *Gateway) SetServiceDown(control string, down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.st.down == nil {
		g.st.down = make(map[string]bool)
	}
	g.st.down[control] = down
}

// downAnswer is what svc answers action with while SetServiceDown holds it
// down: the output arguments, or a UPnP error code; handled is false when
// the service is up or the action is not affected.
func (g *Gateway) downAnswer(svc service, action string) (out []arg, code int, handled bool) {
	g.mu.Lock()
	down := svc.isConn() && g.st.down[svc.control]
	g.mu.Unlock()
	if !down {
		return nil, 0, false
	}
	switch action {
	case "GetStatusInfo":
		return []arg{{"NewConnectionStatus", "Disconnected"}, {"NewLastConnectionError", "ERROR_NO_CARRIER"}, {"NewUptime", "0"}}, 0, true
	case "AddPortMapping", "AddAnyPortMapping":
		return nil, downActionFailed, true
	}
	return nil, 0, false
}
