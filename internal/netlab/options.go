//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Options configure a lab. The zero value is the lab the integration tests
// use: secure mode on, UPnP IGD:2, NAT-PMP and PCP enabled, WAN address
// 1.2.3.4, HTTP port 5000.
type Options struct {
	// InsecureMode sets secure_mode=no, letting UPnP clients map ports to
	// other LAN hosts. Default: secure_mode=yes.
	InsecureMode bool
	// DisableNATPMP sets enable_natpmp=no, which turns off PCP as well.
	DisableNATPMP bool
	// DisableUPnP sets enable_upnp=no (no SSDP, no HTTP/SOAP).
	DisableUPnP bool
	// IGDv1 sets force_igd_desc_v1=yes: the device describes itself as IGD:1
	// with WANIPConnection:1.
	IGDv1 bool
	// PCPAllowThirdParty sets pcp_allow_thirdparty=yes.
	PCPAllowThirdParty bool
	// IPv6 gives every node an address from 2001:db8::/32 as well (see
	// Lab.Addr6; the LAN is 2001:db8:77::/64, routed to the router's WAN
	// address 2001:db8:1::4), turns on miniupnpd's IPv6 (ipv6_disable=no,
	// ext_ifname6): pinholes by UPnP WANIPv6FirewallControl:1 and by PCP MAP
	// for an IPv6 address. New inbound IPv6 is dropped by the router like
	// the rest of its forward traffic, so a pinhole is what opens a LAN
	// host's port. Default: IPv4 only (the LAN hosts keep only link-local
	// IPv6 addresses, which the router does not forward).
	IPv6 bool
	// WANAddr is the router's WAN address; it must be inside 1.2.3.0/24 and
	// not 1.2.3.0, .1, .2 (the WAN host) or .255. Default 1.2.3.4.
	WANAddr netip.Addr
	// HTTPPort is miniupnpd's HTTP (description and SOAP) port for the first
	// run; every RestartRouter moves it up by one, so that clients see the
	// description URL change as after a real reboot. Default 5000.
	HTTPPort uint16
	// ExtraConfig lines are added to miniupnpd.conf before the permission
	// rules (for example "notify_interval=30"). One option per line.
	ExtraConfig []string
	// BuildTimeout bounds New. Default 20s.
	BuildTimeout time.Duration

	// Nested puts an ISP router in front of the home router (double NAT):
	// the node ISP, a second miniupnpd with UPnP, NAT-PMP and PCP (see
	// ISP), takes the WAN link and WANAddr; its LAN is 10.77.0.0/24
	// (Lab.ISPGateway is 10.77.0.1), and Router's WAN address is
	// 10.77.0.2, which is what Lab.ExternalAddr and the home router report.
	// A STUN responder on the ISP router's LAN answers the home router
	// with 10.77.0.2, so that miniupnpd 2.3.1 forwards from that reserved
	// address. The LAN and the home router's options are as without
	// Nested. Not with IPv6; ChangeWANAddr is refused. Default: one router.
	Nested bool
	// ISP configures the ISP router of a nested lab.
	ISP ISPOptions
}

// ISPOptions configure the ISP router of a nested lab (Options.Nested). The
// zero value is UPnP IGD:2, NAT-PMP and PCP on, secure mode on, HTTP port
// 5000, mappings allowed for ports 1024-65535 of its LAN, 10.77.0.0/24.
type ISPOptions struct {
	// DisableNATPMP sets enable_natpmp=no (NAT-PMP and PCP off).
	DisableNATPMP bool
	// DisableUPnP sets enable_upnp=no.
	DisableUPnP bool
	// InsecureMode sets secure_mode=no.
	InsecureMode bool
	// HTTPPort is the ISP router's first HTTP port; RestartISPRouter moves
	// it up by one. Default 5000. (A FRITZ!Box uses 49000.)
	HTTPPort uint16
	// ExtraConfig lines are added to its miniupnpd.conf, one option each.
	ExtraConfig []string
	// CGNAT puts the network between the routers in the shared address
	// space of carrier-grade NAT (RFC 6598): 100.64.77.0/24, the ISP
	// router at .1, the home router's WAN at .2. Default 10.77.0.0/24.
	CGNAT bool
}

// routerOptions are the Options the ISP router's config is written from.
func (o ISPOptions) routerOptions() Options {
	return Options{
		DisableNATPMP: o.DisableNATPMP,
		DisableUPnP:   o.DisableUPnP,
		InsecureMode:  o.InsecureMode,
		ExtraConfig:   o.ExtraConfig,
	}
}

func (o *Options) fill() error {
	if o.DisableNATPMP && o.DisableUPnP {
		return errors.New("netlab: Options disable both UPnP and NAT-PMP/PCP")
	}
	if !o.WANAddr.IsValid() {
		o.WANAddr = defaultWAN
	}
	if err := checkWANAddr(o.WANAddr); err != nil {
		return err
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = 5000
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = 20 * time.Second
	}
	for _, lines := range [][]string{o.ExtraConfig, o.ISP.ExtraConfig} {
		for _, line := range lines {
			if strings.ContainsAny(line, "\r\n") {
				return fmt.Errorf("netlab: ExtraConfig line %q spans lines", line)
			}
		}
	}
	if !o.Nested {
		return nil
	}
	switch {
	case o.IPv6:
		return errors.New("netlab: Options.Nested does not support IPv6")
	case o.ISP.DisableNATPMP && o.ISP.DisableUPnP:
		return errors.New("netlab: Options.ISP disables both UPnP and NAT-PMP/PCP")
	}
	if o.ISP.HTTPPort == 0 {
		o.ISP.HTTPPort = 5000
	}
	return nil
}

// checkWANAddr accepts router WAN addresses inside the lab's WAN net that no
// lab host uses.
func checkWANAddr(a netip.Addr) error {
	a = a.Unmap()
	last := wanNet.Addr().As4()
	last[3] = 255
	switch {
	case !a.Is4() || !wanNet.Contains(a):
		return fmt.Errorf("netlab: WAN address %v is not in %v", a, wanNet)
	case a == wanNet.Addr() || a == netip.AddrFrom4(last) || a == wanHost || a == stunAlt:
		return fmt.Errorf("netlab: WAN address %v is taken (network, broadcast or WAN host)", a)
	}
	return nil
}
