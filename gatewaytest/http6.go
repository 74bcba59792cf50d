package gatewaytest

import (
	"net"
	"net/http"
	"net/netip"
)

// listenHTTP6 binds the [::1] description and control server of
// Config.IPv6 (none with UPnP disabled). Start calls it before serving.
func (g *Gateway) listenHTTP6() error {
	if g.cfg.DisableUPnP {
		return nil
	}
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err
	}
	g.http6 = g.newHTTP(ln)
	return nil
}

// rebootHTTP6 moves the [::1] server to a new port, as Reboot does the IPv4
// one, and returns the old server for the caller to close once g.mu is
// released (nil if there is none). The caller holds g.mu.
func (g *Gateway) rebootHTTP6() *httpSrv {
	if g.http6 == nil {
		return nil
	}
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		g.log.Error("reboot: HTTP listen on [::1]", "err", err)
		return nil
	}
	old := g.http6
	old.retired.Store(true)
	g.http6 = g.newHTTP(ln)
	g.goHTTP(g.http6)
	return old
}

// HTTPAddr6 is the current address of the description and control server
// on [::1] (its port changes on Reboot), or the zero value without
// Config.IPv6 or with UPnP disabled. Requests to it come from ::1, which
// the firewall service takes for Config.IPv6Host.
func (g *Gateway) HTTPAddr6() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.http6 == nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netip.IPv6Loopback(), g.http6.port)
}

// LocationURL6 is the description URL on [::1], e.g.
// "http://[::1]:40124/rootDesc.xml": the IPv6 control URLs resolve against
// it. Empty without Config.IPv6 or with UPnP disabled.
func (g *Gateway) LocationURL6() string {
	a := g.HTTPAddr6()
	if !a.IsValid() {
		return ""
	}
	return "http://" + a.String() + descPath
}

// withFirewall lists the WANConnectionDevice's services: the connection
// service, and WANIPv6FirewallControl:1 under IGD:2 (miniupnpd built
// without IGD:2 has no pinhole service).
func withFirewall(cfg Config, conn service) []service {
	if cfg.IGDVersion < 2 {
		return []service{conn}
	}
	return []service{conn, firewallModel()}
}

// noFirewall answers a POST to the firewall's control URL on a gateway
// without the service with 401 Invalid Action, as miniupnpd built without
// IGD:2 does (it dispatches every control request on its SOAPAction), and
// reports whether it answered.
func (g *Gateway) noFirewall(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != firewallControl || r.Method != http.MethodPost || g.replay != nil {
		return false
	}
	writeFault(w, 401)
	return true
}

// faultName is the errorDescription of code in s's faults: the firewall
// service's own names for its codes, "" (the common name) otherwise.
func (s service) faultName(code int) string {
	if s.isFirewall() {
		return firewallErrors[code]
	}
	return ""
}
