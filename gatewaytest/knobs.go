package gatewaytest

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Decoy kinds for SetDecoy. A decoy is a bad reply sent just before each good
// one; a correct client ignores it and takes the good one.
const (
	DecoyNone = ""
	// DecoyWrongNonce: a PCP MAP/PEER success reply whose nonce differs from
	// the request's (and which reports DecoyExternalAddr:DecoyPort).
	DecoyWrongNonce = "wrong-nonce"
	// DecoyWrongSource: the NAT-PMP or PCP reply, rewritten to report
	// DecoyExternalAddr/DecoyPort, sent from port 5351 of another loopback
	// address (DecoyAddr). IPv4 clients only.
	DecoyWrongSource = "wrong-source"
	// DecoyTruncated: the NAT-PMP or PCP reply cut short by one byte.
	DecoyTruncated = "truncated"
)

// What decoy replies report instead of the real external address and port,
// so a client that accepts a decoy is caught by the values it returns.
var DecoyExternalAddr = netip.MustParseAddr("192.0.2.66")

// DecoyPort is the external port decoy replies report.
const DecoyPort = 9

// OtherHost is the internal address AddMapping uses when none is given: a
// LAN host other than the test's own (a loopback address).
var OtherHost = netip.MustParseAddr("192.168.1.200")

// Mappings returns a snapshot of the live table, sorted by protocol,
// external port, internal address and port. Expired entries are gone.
func (g *Gateway) Mappings() []Mapping {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.table.prune(g.cfg.Now())
	out := g.st.table.sorted()
	for i := range out {
		out[i].ExternalAddr = g.st.ext
		if !out[i].InternalAddr.Is4() {
			out[i].ExternalAddr = out[i].InternalAddr
		}
	}
	return out
}

// AddMapping puts an entry into the table as if another host or the
// router's own configuration had created it, e.g. to provoke conflicts (UPnP
// 718, a different NAT-PMP port, PCP CANNOT_PROVIDE_EXTERNAL). Defaults:
// Method Manual, Protocol "TCP", InternalAddr OtherHost, InternalPort =
// ExternalPort; Expires is computed from Lifetime when zero (Lifetime 0 is
// permanent). Enabled is always true. An entry for the same protocol and
// external port is replaced.
func (g *Gateway) AddMapping(m Mapping) {
	if m.Method == "" {
		m.Method = Manual
	}
	m.Protocol = strings.ToUpper(m.Protocol)
	if m.Protocol == "" {
		m.Protocol = "TCP"
	}
	if !m.InternalAddr.IsValid() {
		m.InternalAddr = OtherHost
	}
	m.InternalAddr = m.InternalAddr.Unmap()
	if m.InternalPort == 0 {
		m.InternalPort = m.ExternalPort
	}
	m.Enabled = true
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	if m.Expires.IsZero() {
		m.Expires = expiry(now, m.Lifetime)
	}
	g.st.table.remove(func(e *Mapping) bool {
		return e.Protocol == m.Protocol && e.ExternalPort == m.ExternalPort && space(e.InternalAddr) == space(m.InternalAddr)
	}, Manual)
	g.st.table.add(&m, Manual)
}

// Reboot simulates a router restart: the table and the pinholes are lost,
// the epoch starts again from 0, the HTTP servers (IPv4 and [::1]) move to
// new ports (the old ones refuse connections, as miniupnpd's does after a
// restart), announcements go to Config.AnnounceTo and ssdp:alive with the
// next BOOTID.UPNP.ORG to SetSSDPNotifyTo. The knobs are kept.
func (g *Gateway) Reboot() {
	var old *httpSrv
	g.bootMu.Lock()
	defer g.bootMu.Unlock()
	g.mu.Lock()
	if g.closed() {
		g.mu.Unlock()
		return
	}
	g.st.table.remove(func(*Mapping) bool { return true }, ByReboot)
	g.removePinholes(func(*Pinhole) bool { return true }, ByReboot)
	g.st.origin = g.cfg.Now()
	g.st.boots++
	g.gena.subs = nil // a restarted router has forgotten its subscribers
	var old6 *httpSrv
	if !g.gena.rebootKeepsPort {
		old = g.moveHTTPLocked()
		old6 = g.rebootHTTP6()
	}
	g.startAnnounce()
	g.mu.Unlock()
	if old != nil {
		old.srv.Close()
	}
	if old6 != nil {
		old6.srv.Close()
	}
	g.SendAlive() // with the new BOOTID.UPNP.ORG, to SetSSDPNotifyTo
}

// SetExternalAddr changes the external address, restarts the epoch (RFC 6887
// §8.5) and sends announcements. An unspecified address (0.0.0.0) simulates a
// lost uplink: NAT-PMP and PCP answer NETWORK_FAILURE and
// GetExternalIPAddress returns an empty address. With SetEventing on, each
// GENA subscriber gets a NOTIFY.
func (g *Gateway) SetExternalAddr(a netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed() {
		return
	}
	g.st.ext = a.Unmap()
	g.st.origin = g.cfg.Now()
	g.startAnnounce()
	g.notifyAllLocked()
}

// SetSilent makes the gateway drop requests of a method without answering
// (they are still counted): NATPMP (version-0 datagrams), PCP, SSDP, SOAP
// (HTTP requests hang until the client gives up or the gateway closes), or
// UPnP (SSDP and SOAP). It panics on another method name.
func (g *Gateway) SetSilent(method string, silent bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range expand(method, NATPMP, PCP, SSDP, SOAP) {
		g.st.silent[m] = silent
	}
}

// SetMapSilent makes the gateway drop the mapping requests of NATPMP
// (opcodes 1 and 2) or PCP (MAP and PEER) without answering, while
// external-address and ANNOUNCE requests are still answered: miniupnpd
// behaves so for about 45 s after a request for a port its rules deny. The
// requests are still counted. It panics on another method name.
func (g *Gateway) SetMapSilent(method string, silent bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range expand(method, NATPMP, PCP) {
		g.st.mapQuiet[m] = silent
	}
}

// SetDelay delays the replies of a method (same names as SetSilent) by d;
// 0 restores immediate answers. UDP replies are computed at once and sent
// later, so a retransmission gets its own delayed reply.
func (g *Gateway) SetDelay(method string, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range expand(method, NATPMP, PCP, SSDP, SOAP) {
		g.st.delay[m] = d
	}
}

// SetResult makes mapping requests of NATPMP (opcodes 1 and 2) or PCP (MAP
// and PEER) fail with the given result code, e.g. NATPMPNotAuthorized or
// PCPNoResources; 0 restores normal operation. External-address and
// ANNOUNCE requests keep working, as on a router that merely refuses
// mappings. For UPnP use FailAction. It panics on another method name.
func (g *Gateway) SetResult(method string, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range expand(method, NATPMP, PCP) {
		g.st.result[m] = code
	}
}

// FailAction makes a SOAP action fail with a UPnP error code (e.g. 501,
// 718, 725); action "*" means every action; code 0 clears the entry. The
// fault's errorDescription is the spec's name for the code.
func (g *Gateway) FailAction(action string, code int) { g.FailActionText(action, code, "") }

// FailActionText is FailAction with the fault's errorDescription set to
// text, which is written as a hostile router would: only &, < and > are
// escaped, everything else (control characters, bidi marks, any length) goes
// out as given. Text empty means the spec's name. See HostileText and
// HostileTextC0 for ready-made samples; strings.Repeat makes a huge one (a
// 60 KB text still fits the 64 KiB a client commonly accepts).
func (g *Gateway) FailActionText(action string, code int, text string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if code == 0 {
		delete(g.st.fail, action)
		delete(g.st.failText, action)
		return
	}
	g.st.fail[action] = code
	g.st.failText[action] = text
}

// Router text that must never reach a terminal as it is, for
// FailActionText, Config.FriendlyName and the like.
const (
	// HostileText is well-formed XML character data: C1 controls (U+009B is
	// CSI, which some terminals treat as ESC [; U+0085 is NEL), a bidi
	// override (U+202E) and isolate (U+2066), so it reaches a client's
	// parser intact.
	HostileText = "port \u009b31mbusy\u009b0m\u0085 \u202etxt.exe\u202c \u2066iso\u2069"
	// HostileTextC0 carries ESC and BEL, which XML 1.0 cannot carry: a strict
	// parser rejects the whole reply that holds it raw.
	HostileTextC0 = "port \x1b[31mbusy\x1b[0m\x07"
)

// SetDecoy selects a decoy kind (DecoyWrongNonce, DecoyWrongSource,
// DecoyTruncated) sent before every NAT-PMP/PCP reply, or DecoyNone. It
// panics on an unknown kind or if the decoy socket cannot be bound.
func (g *Gateway) SetDecoy(kind string) {
	switch kind {
	case DecoyNone, DecoyWrongNonce, DecoyTruncated:
	case DecoyWrongSource:
		if g.decoyConn() == nil {
			c, err := otherLoopback(5351)
			if err != nil {
				panic(err)
			}
			g.mu.Lock()
			if g.decoy == nil && !g.closed() {
				g.decoy, c = c, nil
			}
			g.mu.Unlock()
			if c != nil {
				c.Close()
			}
		}
	default:
		panic("gatewaytest: unknown decoy kind " + kind)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.decoy = kind
}

// DecoyAddr is the source address of "wrong-source" decoys (zero until
// SetDecoy(DecoyWrongSource) was called).
func (g *Gateway) DecoyAddr() netip.Addr {
	if c := g.decoyConn(); c != nil {
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	}
	return netip.Addr{}
}

func (g *Gateway) decoyConn() *net.UDPConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.decoy
}

// SetLocationHost makes SSDP answers advertise a LOCATION on another host
// (e.g. "192.0.2.1" or "[::1]"; the HTTP port is kept unless host has its
// own), as some routers do. The description is still served on Addr().
// Empty restores the real address.
func (g *Gateway) SetLocationHost(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.location = host
}

// Requests counts the requests received (answered or not) for NATPMP, PCP,
// SSDP (M-SEARCH datagrams), SOAP (control POSTs), "description" (GETs of
// the description and SCPDs), UPnP (all of SSDP, SOAP and description), or
// a SOAP action name such as "AddPortMapping".
func (g *Gateway) Requests(method string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if method == UPnP {
		return g.st.requests[SSDP] + g.st.requests[SOAP] + g.st.requests[reqDescription]
	}
	return g.st.requests[method]
}

const reqDescription = "description"

// expand validates a knob's method name and lists the methods it stands
// for.
func expand(method string, allowed ...string) []string {
	if method == UPnP && slices.Contains(allowed, SSDP) {
		return []string{SSDP, SOAP}
	}
	if !slices.Contains(allowed, method) {
		panic("gatewaytest: method " + method + " has no such knob")
	}
	return []string{method}
}

// SetSSDPFromStatic makes the gateway answer SSDP searches as the active
// router of a VRRP/CARP pair does (tailscale#5502): the answers leave from
// port 1900 of another loopback address (StaticAddr, the router's own
// "static" address) rather than from Addr (the floating gateway address),
// and their LOCATION names that address with the HTTP port, unless
// SetLocationHost says otherwise. Searches are still received on Addr, and
// the description and control URLs are still served on Addr only. false
// restores answers from Addr. It panics if the socket cannot be bound.
func (g *Gateway) SetSSDPFromStatic(on bool) {
	if on && g.staticConn() == nil {
		c, err := otherLoopback(1900)
		if err != nil {
			panic(err)
		}
		g.mu.Lock()
		if g.static == nil && !g.closed() {
			g.static, c = c, nil
		}
		g.mu.Unlock()
		if c != nil {
			c.Close()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.st.static = on
}

// StaticAddr is the address SSDP answers come from under
// SetSSDPFromStatic (zero until it was first turned on).
func (g *Gateway) StaticAddr() netip.Addr {
	if c := g.staticConn(); c != nil {
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	}
	return netip.Addr{}
}

func (g *Gateway) staticConn() *net.UDPConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.static
}
