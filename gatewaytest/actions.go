package gatewaytest

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxLeaseV2 is IGD:2's longest lease (one week); 0 and anything longer
// become it (WANIPConnection:2, as miniupnpd applies it).
const maxLeaseV2 = 604800 * time.Second

var (
	v1Actions = []string{
		"AddPortMapping", "DeletePortMapping", "GetSpecificPortMappingEntry",
		"GetGenericPortMappingEntry", "GetExternalIPAddress", "GetStatusInfo", "GetConnectionTypeInfo",
	}
	v2Actions  = []string{"AddAnyPortMapping", "DeletePortMappingRange", "GetListOfPortMappings"}
	cmnActions = []string{
		"GetCommonLinkProperties", "GetTotalBytesSent", "GetTotalBytesReceived",
		"GetTotalPacketsSent", "GetTotalPacketsReceived",
	}
)

// l3fActions are the Layer3Forwarding actions a router with no connection
// service answers.
var l3fActions = []string{"GetDefaultConnectionService"}

// actionsFor lists the actions a service answers.
func actionsFor(svc service) []string {
	switch {
	case svc.isConn():
		return connActions(svc)
	case svc.name == "WANCommonInterfaceConfig":
		return cmnActions
	case svc.name == "Layer3Forwarding":
		return l3fActions
	case svc.isFirewall():
		return firewallActions
	}
	return nil
}

// connActions lists the actions of the connection service.
func connActions(svc service) []string {
	if svc.name == "WANIPConnection" && svc.version >= 2 {
		return append(append([]string(nil), v1Actions...), v2Actions...)
	}
	return v1Actions
}

// call is one action invocation.
type call struct {
	args        map[string]string
	caller      netip.Addr
	now         time.Time
	strictProto bool // Config.RejectLowerCaseProtocol
}

// runAction dispatches an action; it returns the output arguments or a UPnP
// error code.
func (g *Gateway) runAction(svc service, req *soapRequest, caller netip.Addr) ([]arg, int) {
	if !slices.Contains(actionsFor(svc), req.action) {
		return nil, 401
	}
	c := &call{args: req.args, caller: caller, now: g.cfg.Now(), strictProto: g.cfg.RejectLowerCaseProtocol}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.table.prune(c.now)
	if svc.isFirewall() {
		return g.runFirewall(c, req.action)
	}
	switch req.action {
	case "AddPortMapping":
		return g.addPortMapping(c)
	case "AddAnyPortMapping":
		return g.addAnyPortMapping(c)
	case "DeletePortMapping":
		return g.deletePortMapping(c)
	case "DeletePortMappingRange":
		return g.deletePortMappingRange(c)
	case "GetSpecificPortMappingEntry":
		return g.getSpecificPortMappingEntry(c)
	case "GetGenericPortMappingEntry":
		return g.getGenericPortMappingEntry(c)
	case "GetListOfPortMappings":
		return g.getListOfPortMappings(c)
	case "GetExternalIPAddress":
		ext := ""
		if g.st.hasExternal() {
			ext = g.st.ext.String()
		}
		return []arg{{"NewExternalIPAddress", ext}}, 0
	case "GetStatusInfo":
		status := "Connected"
		if !g.st.hasExternal() {
			status = "Disconnected"
		}
		status = cmp.Or(g.st.wan.status, status)
		up := strconv.FormatUint(uint64(g.st.epoch(c.now)), 10)
		return []arg{{"NewConnectionStatus", status}, {"NewLastConnectionError", "ERROR_NONE"}, {"NewUptime", up}}, 0
	case "GetConnectionTypeInfo":
		return []arg{{"NewConnectionType", cmp.Or(g.st.wan.connType, "IP_Routed")}, {"NewPossibleConnectionTypes", "IP_Routed"}}, 0
	case "GetCommonLinkProperties":
		return []arg{{"NewWANAccessType", "Ethernet"}, {"NewLayer1UpstreamMaxBitRate", "100000000"},
			{"NewLayer1DownstreamMaxBitRate", "100000000"}, {"NewPhysicalLinkStatus", cmp.Or(g.st.wan.link, "Up")}}, 0
	case "GetDefaultConnectionService":
		// No connection service to name: that is what this router lacks.
		return []arg{{"NewDefaultConnectionService", ""}}, 0
	case "GetTotalBytesSent", "GetTotalBytesReceived", "GetTotalPacketsSent", "GetTotalPacketsReceived":
		return []arg{{"New" + strings.TrimPrefix(req.action, "Get"), "0"}}, 0
	}
	return nil, 401
}

// mappingArgs are the validated inputs of AddPortMapping/AddAnyPortMapping.
type mappingArgs struct {
	remoteHost string
	extPort    uint16
	proto      string
	intPort    uint16
	client     netip.Addr
	enabled    bool
	desc       string
	lease      time.Duration
	leaseGiven uint32
}

// parseMappingArgs validates the eight arguments; a missing or malformed one
// is 402. An empty NewInternalClient means the caller (miniupnpd outside
// strict mode).
func (c *call) parseMappingArgs() (m mappingArgs, code int) {
	for _, n := range []string{"NewRemoteHost", "NewExternalPort", "NewProtocol", "NewInternalPort",
		"NewInternalClient", "NewEnabled", "NewPortMappingDescription", "NewLeaseDuration"} {
		if _, ok := c.args[n]; !ok {
			return m, 402
		}
	}
	var ok bool
	m.remoteHost = strings.TrimSpace(c.args["NewRemoteHost"])
	if m.extPort, ok = parsePort(c.args["NewExternalPort"]); !ok {
		return m, 402
	}
	if m.proto, ok = c.parseProto(c.args["NewProtocol"]); !ok {
		return m, 402
	}
	if m.intPort, ok = parsePort(c.args["NewInternalPort"]); !ok || m.intPort == 0 {
		return m, 402
	}
	m.client = c.caller
	if s := strings.TrimSpace(c.args["NewInternalClient"]); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Unmap().Is4() {
			return m, 402 // host names are not resolved
		}
		m.client = a.Unmap()
	}
	if m.enabled, ok = parseBool(c.args["NewEnabled"]); !ok {
		return m, 402
	}
	m.desc = c.args["NewPortMappingDescription"]
	lease, err := strconv.ParseUint(strings.TrimSpace(c.args["NewLeaseDuration"]), 10, 32)
	if err != nil {
		return m, 402
	}
	m.leaseGiven = uint32(lease)
	m.lease = time.Duration(lease) * time.Second
	return m, 0
}

// checkPolicy applies PermanentOnly, the IGD:2 lease rule and secure mode.
func (g *Gateway) checkPolicy(m *mappingArgs, caller netip.Addr) int {
	if (g.cfg.PermanentOnly || g.cfg.RequireZeroLease) && m.leaseGiven != 0 {
		return 725
	}
	// A permanent-only router keeps lease 0 permanent even under IGD:2.
	if !g.cfg.PermanentOnly && g.cfg.IGDVersion >= 2 && (m.lease == 0 || m.lease > maxLeaseV2) {
		m.lease = maxLeaseV2
	}
	if g.cfg.SecureMode && m.client != caller {
		if g.cfg.IGDVersion >= 2 && !g.cfg.SecureModeConflict {
			return 606
		}
		return 718
	}
	return 0
}

// noRoom is the code for a full table.
func (g *Gateway) noRoom() int {
	if g.cfg.IGDVersion >= 2 {
		return 728
	}
	return 501
}

func (g *Gateway) addPortMapping(c *call) ([]arg, int) {
	m, code := c.parseMappingArgs()
	if code != 0 {
		return nil, code
	}
	if m.extPort == 0 {
		return nil, 716
	}
	if code := g.checkPolicy(&m, c.caller); code != 0 {
		return nil, code
	}
	t := &g.st.table
	if t.conflictsHost(m.proto, m.extPort, m.client) {
		if g.cfg.KeepManualForwards {
			return nil, 0 // the other host's entry stays; see Config.KeepManualForwards
		}
		return nil, 718
	}
	if !g.upsert(m.mapping(c.now, m.extPort)) {
		return nil, g.noRoom()
	}
	return nil, 0
}

// upsert puts a UPnP entry into the table. The same host may overwrite its
// entry for the port: that is how UPnP renews, and it may re-point the entry
// to another internal port. It reports false when the table is full.
func (g *Gateway) upsert(e *Mapping) bool {
	t := &g.st.table
	own := func(o *Mapping) bool {
		return o.Protocol == e.Protocol && o.ExternalPort == e.ExternalPort && o.InternalAddr == e.InternalAddr && !o.isPeer()
	}
	if old := t.find(func(o *Mapping) bool { return own(o) && o.Method == UPnP }); old != nil {
		t.remove(func(o *Mapping) bool { return own(o) && o != old }, UPnP)
		*old = *e
		t.renew(old, UPnP)
		return true
	}
	if t.remove(own, UPnP) == 0 && t.full() {
		return false
	}
	t.add(e, UPnP)
	return true
}

func (g *Gateway) addAnyPortMapping(c *call) ([]arg, int) {
	m, code := c.parseMappingArgs()
	if code != 0 {
		return nil, code
	}
	if code := g.checkPolicy(&m, c.caller); code != 0 {
		return nil, code
	}
	t := &g.st.table
	port := m.extPort
	if h := t.holder(m.proto, port, m.client); port == 0 || (h != nil && h.InternalAddr != m.client) {
		var ok bool
		if port, ok = t.allocate(m.proto, m.extPort, m.client, m.intPort); !ok {
			return nil, g.noRoom()
		}
	}
	if !g.upsert(m.mapping(c.now, port)) {
		return nil, g.noRoom()
	}
	return []arg{{"NewReservedPort", strconv.Itoa(int(port))}}, 0
}

// mapping is the table entry for validated arguments.
func (m *mappingArgs) mapping(now time.Time, port uint16) *Mapping {
	return &Mapping{
		Method:       UPnP,
		Protocol:     m.proto,
		ExternalPort: port,
		InternalAddr: m.client,
		InternalPort: m.intPort,
		RemoteHost:   m.remoteHost,
		Description:  m.desc,
		Enabled:      m.enabled,
		Lifetime:     m.lease,
		Expires:      expiry(now, m.lease),
	}
}

// lookupArgs validates NewExternalPort and NewProtocol.
func (c *call) lookupArgs() (port uint16, proto string, code int) {
	if _, ok := c.args["NewRemoteHost"]; !ok {
		return 0, "", 402
	}
	port, ok := parsePort(c.args["NewExternalPort"])
	if !ok {
		return 0, "", 402
	}
	if proto, ok = c.parseProto(c.args["NewProtocol"]); !ok {
		return 0, "", 402
	}
	return port, proto, 0
}

// upnpVisible reports whether an entry is listed over UPnP: IPv4 entries
// other than PCP PEER's implicit ones.
func upnpVisible(m *Mapping) bool { return m.InternalAddr.Is4() && !m.isPeer() }

func (g *Gateway) deletePortMapping(c *call) ([]arg, int) {
	port, proto, code := c.lookupArgs()
	if code != 0 {
		return nil, code
	}
	t := &g.st.table
	e := t.find(func(m *Mapping) bool { return upnpVisible(m) && m.Protocol == proto && m.ExternalPort == port })
	if e == nil {
		if g.cfg.DeleteMissingSucceeds {
			return nil, 0
		}
		return nil, 714
	}
	if g.cfg.SecureMode && e.InternalAddr != c.caller {
		if g.cfg.IGDVersion >= 2 {
			return nil, 606
		}
		return nil, 714
	}
	t.remove(func(m *Mapping) bool { return m == e }, UPnP)
	return nil, 0
}

func (g *Gateway) deletePortMappingRange(c *call) ([]arg, int) {
	start, end, proto, manage, code := c.rangeArgs()
	if code != 0 {
		return nil, code
	}
	n := g.st.table.remove(func(m *Mapping) bool {
		return upnpVisible(m) && m.Protocol == proto && m.ExternalPort >= start && m.ExternalPort <= end &&
			(m.InternalAddr == c.caller || (manage && !g.cfg.SecureMode))
	}, UPnP)
	if n == 0 {
		return nil, 730
	}
	return nil, 0
}

// rangeArgs validates the arguments shared by the v2 range actions.
func (c *call) rangeArgs() (start, end uint16, proto string, manage bool, code int) {
	var ok bool
	if start, ok = parsePort(c.args["NewStartPort"]); !ok {
		return 0, 0, "", false, 402
	}
	if end, ok = parsePort(c.args["NewEndPort"]); !ok {
		return 0, 0, "", false, 402
	}
	if proto, ok = c.parseProto(c.args["NewProtocol"]); !ok {
		return 0, 0, "", false, 402
	}
	if manage, ok = parseBool(c.args["NewManage"]); !ok {
		return 0, 0, "", false, 402
	}
	if start > end {
		return 0, 0, "", false, 733
	}
	return start, end, proto, manage, 0
}

func (g *Gateway) getSpecificPortMappingEntry(c *call) ([]arg, int) {
	port, proto, code := c.lookupArgs()
	if code != 0 {
		return nil, code
	}
	e := g.st.table.find(func(m *Mapping) bool { return upnpVisible(m) && m.Protocol == proto && m.ExternalPort == port })
	if e == nil {
		return nil, 714
	}
	return []arg{
		{"NewInternalPort", strconv.Itoa(int(e.InternalPort))},
		{"NewInternalClient", e.InternalAddr.String()},
		{"NewEnabled", boolArg(e.Enabled)},
		{"NewPortMappingDescription", e.Description},
		{"NewLeaseDuration", remaining(e, c.now)},
	}, 0
}

func (g *Gateway) getGenericPortMappingEntry(c *call) ([]arg, int) {
	idx, err := strconv.ParseUint(strings.TrimSpace(c.args["NewPortMappingIndex"]), 10, 16)
	if err != nil {
		return nil, 402
	}
	list := g.visibleSorted()
	if idx >= uint64(len(list)) {
		return nil, 713
	}
	e := list[idx]
	return []arg{
		{"NewRemoteHost", e.RemoteHost},
		{"NewExternalPort", strconv.Itoa(int(e.ExternalPort))},
		{"NewProtocol", e.Protocol},
		{"NewInternalPort", strconv.Itoa(int(e.InternalPort))},
		{"NewInternalClient", e.InternalAddr.String()},
		{"NewEnabled", boolArg(e.Enabled)},
		{"NewPortMappingDescription", e.Description},
		{"NewLeaseDuration", remaining(&e, c.now)},
	}, 0
}

// visibleSorted lists the UPnP-visible entries in enumeration order.
func (g *Gateway) visibleSorted() []Mapping {
	all := g.st.table.sorted()
	out := all[:0]
	for i := range all {
		if upnpVisible(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

func (g *Gateway) getListOfPortMappings(c *call) ([]arg, int) {
	start, end, proto, manage, code := c.rangeArgs()
	if code != 0 {
		return nil, code
	}
	n, err := strconv.ParseUint(strings.TrimSpace(c.args["NewNumberOfPorts"]), 10, 16)
	if err != nil {
		return nil, 402
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
		`xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">` + "\n")
	count := 0
	for _, e := range g.visibleSorted() {
		if e.Protocol != proto || e.ExternalPort < start || e.ExternalPort > end {
			continue
		}
		if !manage && e.InternalAddr != c.caller {
			continue
		}
		if n != 0 && count >= int(n) {
			break
		}
		count++
		b.WriteString("<p:PortMappingEntry>\n")
		listTag(&b, "NewRemoteHost", e.RemoteHost)
		listTag(&b, "NewExternalPort", strconv.Itoa(int(e.ExternalPort)))
		listTag(&b, "NewProtocol", e.Protocol)
		listTag(&b, "NewInternalPort", strconv.Itoa(int(e.InternalPort)))
		listTag(&b, "NewInternalClient", e.InternalAddr.String())
		listTag(&b, "NewEnabled", boolArg(e.Enabled))
		listTag(&b, "NewDescription", e.Description)
		listTag(&b, "NewLeaseTime", remaining(&e, c.now))
		b.WriteString("</p:PortMappingEntry>\n")
	}
	b.WriteString("</p:PortMappingList>\n")
	if count == 0 {
		return nil, 730
	}
	return []arg{{"NewPortListing", b.String()}}, 0
}

func listTag(b *strings.Builder, name, value string) {
	b.WriteString("<p:" + name + ">" + attrEscape(value) + "</p:" + name + ">\n")
}

// remaining is the lease left, in whole seconds rounded up ("0" = permanent).
func remaining(m *Mapping, now time.Time) string {
	if m.Expires.IsZero() {
		return "0"
	}
	d := m.Expires.Sub(now)
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(secs, 1)), 10)
}

func parsePort(s string) (uint16, bool) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	return uint16(v), err == nil
}

// parseProto accepts TCP or UDP, in any case unless the router is strict
// (Config.RejectLowerCaseProtocol).
func (c *call) parseProto(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if c.strictProto {
		return s, s == "TCP" || s == "UDP"
	}
	switch p := strings.ToUpper(s); p {
	case "TCP", "UDP":
		return p, true
	}
	return "", false
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true, true
	case "0", "false", "no":
		return false, true
	}
	return false, false
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
