package gatewaytest

import (
	"bytes"
	"fmt"
	"net/netip"
)

// SSDP NOTIFY (UDA 2.0 §1.2): a real router multicasts ssdp:alive when it
// starts and periodically, and ssdp:byebye when it goes down gracefully;
// each carries BOOTID.UPNP.ORG, which a restart increments. The gateway
// never multicasts: it sends its NOTIFYs, from Addr():1900, to the loopback
// addresses SetSSDPNotifyTo names, which stand in for 239.255.255.250:1900.

// SSDP notification subtypes (the NTS header), as NotifyKinds reports them.
const (
	SSDPAlive  = "ssdp:alive"
	SSDPByeBye = "ssdp:byebye"
)

// SetSSDPNotifyTo sets where SSDP NOTIFYs go: Reboot sends ssdp:alive with
// the new BOOTID.UPNP.ORG there, and SendAlive and SendByeBye send on
// demand. None: no NOTIFYs (the default).
func (g *Gateway) SetSSDPNotifyTo(dst ...netip.AddrPort) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gena.ssdpTo = append([]netip.AddrPort(nil), dst...)
}

// SendAlive sends one round of ssdp:alive NOTIFYs (root device, the
// InternetGatewayDevice, the connection service) with the current
// BOOTID.UPNP.ORG to the SetSSDPNotifyTo addresses.
func (g *Gateway) SendAlive() { g.sendSSDPNotify(SSDPAlive) }

// SendByeBye sends one round of ssdp:byebye NOTIFYs, as a router going down
// gracefully does.
func (g *Gateway) SendByeBye() { g.sendSSDPNotify(SSDPByeBye) }

// sendSSDPNotify sends one round of NOTIFYs of kind nts.
func (g *Gateway) sendSSDPNotify(nts string) {
	g.mu.Lock()
	dst := g.gena.ssdpTo
	loc := g.locationLocked()
	boot, config := g.st.boots, g.gena.config()
	closed := g.closed()
	g.mu.Unlock()
	if closed || g.ssdp == nil || len(dst) == 0 {
		return
	}
	for _, a := range g.notifyTargets() {
		pkt := ssdpNotify(a, nts, loc, boot, config)
		for _, to := range dst {
			_, _ = g.ssdp.WriteToUDPAddrPort(pkt, to)
		}
	}
}

// notifyTargets lists the (NT, USN) pairs a NOTIFY round announces.
func (g *Gateway) notifyTargets() []ssdpAnswer {
	root := g.model.root
	out := []ssdpAnswer{
		{"upnp:rootdevice", root.udn + "::upnp:rootdevice"},
		{root.typ(), root.udn + "::" + root.typ()},
	}
	if c, ok := g.model.conn(); ok {
		out = append(out, ssdpAnswer{c.typ(), root.udn + "::" + c.typ()})
	}
	return out
}

// ssdpNotify formats one NOTIFY (UDA 2.0 §1.2.2, §1.2.4); a byebye has no
// LOCATION, SERVER or CACHE-CONTROL.
func ssdpNotify(a ssdpAnswer, nts, location string, bootID, configID int) []byte {
	var b bytes.Buffer
	b.WriteString("NOTIFY * HTTP/1.1\r\n")
	b.WriteString("HOST: 239.255.255.250:1900\r\n")
	if nts == SSDPAlive {
		b.WriteString("CACHE-CONTROL: max-age=120\r\n")
		fmt.Fprintf(&b, "LOCATION: %s\r\n", location)
		fmt.Fprintf(&b, "SERVER: %s\r\n", ServerHeader)
	}
	fmt.Fprintf(&b, "NT: %s\r\n", a.st)
	fmt.Fprintf(&b, "NTS: %s\r\n", nts)
	fmt.Fprintf(&b, "USN: %s\r\n", a.usn)
	fmt.Fprintf(&b, "BOOTID.UPNP.ORG: %d\r\n", bootID)
	fmt.Fprintf(&b, "CONFIGID.UPNP.ORG: %d\r\n", configID)
	b.WriteString("\r\n")
	return b.Bytes()
}
