package gatewaytest

import (
	"crypto/rand"
	"fmt"
)

// The device model: what the description lists and what SSDP answers for.
// InternetGatewayDevice → WANDevice → WANConnectionDevice, with
// WANCommonInterfaceConfig on the WANDevice and the connection service on
// the WANConnectionDevice, as in the IGD specifications.

const (
	urnDevice  = "urn:schemas-upnp-org:device:"
	urnService = "urn:schemas-upnp-org:service:"

	descPath = "/rootDesc.xml"
)

// service is one UPnP service of the model.
type service struct {
	name    string // e.g. "WANIPConnection"
	version int
	id      string // serviceId
	control string // control URL path
	scpd    string // SCPD URL path
	event   string // event subscription URL path (not served: 404)
}

func (s service) typ() string { return fmt.Sprintf("%s%s:%d", urnService, s.name, s.version) }

// device is one UPnP device of the model.
type device struct {
	name     string // e.g. "WANDevice"
	version  int
	udn      string // "uuid:…"
	friendly string
	services []service
	devices  []*device
}

func (d *device) typ() string { return fmt.Sprintf("%s%s:%d", urnDevice, d.name, d.version) }

// walk calls f for d and every device below it, depth first.
func (d *device) walk(f func(*device)) {
	f(d)
	for _, c := range d.devices {
		c.walk(f)
	}
}

// model is the device tree of a configuration; conn is the connection
// service (WANIPConnection or WANPPPConnection) that SOAP control serves.
type model struct {
	root *device
	conn service
	cmn  service
}

func newModel(cfg Config) *model {
	v := cfg.IGDVersion
	conn := service{name: "WANIPConnection", version: v, id: "urn:upnp-org:serviceId:WANIPConn1",
		control: "/ctl/IPConn", scpd: "/WANIPCn.xml", event: "/evt/IPConn"}
	if cfg.PPP {
		conn = service{name: "WANPPPConnection", version: 1, id: "urn:upnp-org:serviceId:WANPPPConn1",
			control: "/ctl/PPPConn", scpd: "/WANPPPCn.xml", event: "/evt/PPPConn"}
	}
	cmn := service{name: "WANCommonInterfaceConfig", version: 1, id: "urn:upnp-org:serviceId:WANCommonIFC1",
		control: "/ctl/CmnIfCfg", scpd: "/WANCfg.xml", event: "/evt/CmnIfCfg"}
	return &model{
		conn: conn,
		cmn:  cmn,
		root: &device{
			name: "InternetGatewayDevice", version: v, udn: newUUID(), friendly: "gatewaytest router",
			devices: []*device{{
				name: "WANDevice", version: v, udn: newUUID(), friendly: "WANDevice",
				services: []service{cmn},
				devices: []*device{{
					name: "WANConnectionDevice", version: v, udn: newUUID(), friendly: "WANConnectionDevice",
					services: []service{conn},
				}},
			}},
		},
	}
}

// serviceAt returns the service whose control URL is path.
func (m *model) serviceAt(path string) (service, bool) {
	for _, s := range []service{m.conn, m.cmn} {
		if s.control == path {
			return s, true
		}
	}
	return service{}, false
}

// newUUID returns a random version-4 UUID as "uuid:…".
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
