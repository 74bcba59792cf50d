package gatewaytest

import (
	"cmp"
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
	urn     string // type prefix; "" means urnService
	name    string // e.g. "WANIPConnection"
	version int
	id      string // serviceId
	control string // control URL path
	scpd    string // SCPD URL path
	event   string // event subscription URL path (not served: 404)
}

func (s service) typ() string { return fmt.Sprintf("%s%s:%d", s.prefix(), s.name, s.version) }

// prefix is the service type up to the name, e.g. "urn:schemas-upnp-org:service:".
func (s service) prefix() string {
	if s.urn == "" {
		return urnService
	}
	return s.urn
}

// isConn reports whether s is a WAN connection service, the one that
// answers the port-mapping actions with the gateway's table.
func (s service) isConn() bool { return s.name == "WANIPConnection" || s.name == "WANPPPConnection" }

// device is one UPnP device of the model.
type device struct {
	urn      string // type prefix; "" means urnDevice
	name     string // e.g. "WANDevice"
	version  int
	udn      string // "uuid:…"
	friendly string
	// modelName is the root device's modelName; "" means defaultModelName.
	modelName string
	services  []service
	devices   []*device
}

func (d *device) typ() string { return fmt.Sprintf("%s%s:%d", d.prefix(), d.name, d.version) }

// prefix is the device type up to the name, e.g. "urn:schemas-upnp-org:device:".
func (d *device) prefix() string {
	if d.urn == "" {
		return urnDevice
	}
	return d.urn
}

// walk calls f for d and every device below it, depth first.
func (d *device) walk(f func(*device)) {
	f(d)
	for _, c := range d.devices {
		c.walk(f)
	}
}

// model is the device tree of a configuration and the services whose
// control URLs SOAP serves.
type model struct {
	root     *device
	services []service // every service, in description order
	// nest is Config.NestedDevices: bare devices nested inside each other,
	// written into the description only (SSDP does not answer for them).
	nest int
}

// Default router text of the description (Config.FriendlyName, ModelName).
const (
	defaultFriendlyName = "gatewaytest router"
	defaultModelName    = "gatewaytest"
)

func newModel(cfg Config) *model {
	m := newIGDModel(cfg)
	m.nest = cfg.NestedDevices
	m.root.friendly = cmp.Or(cfg.FriendlyName, defaultFriendlyName)
	m.root.modelName = cfg.ModelName
	m.root.walk(func(d *device) { m.services = append(m.services, d.services...) })
	return m
}

// newIGDModel builds the device tree of cfg: the IGD layout, or a root
// device with only Layer3Forwarding (Config.OnlyLayer3Forwarding).
func newIGDModel(cfg Config) *model {
	v := cfg.IGDVersion
	conn := service{name: "WANIPConnection", version: v, id: "urn:upnp-org:serviceId:WANIPConn1",
		control: "/ctl/IPConn", scpd: "/WANIPCn.xml", event: "/evt/IPConn"}
	if cfg.PPP {
		conn = service{name: "WANPPPConnection", version: 1, id: "urn:upnp-org:serviceId:WANPPPConn1",
			control: "/ctl/PPPConn", scpd: "/WANPPPCn.xml", event: "/evt/PPPConn"}
	}
	cmn := service{name: "WANCommonInterfaceConfig", version: 1, id: "urn:upnp-org:serviceId:WANCommonIFC1",
		control: "/ctl/CmnIfCfg", scpd: "/WANCfg.xml", event: "/evt/CmnIfCfg"}
	if cfg.OnlyLayer3Forwarding {
		l3f := service{name: "Layer3Forwarding", version: 1, id: "urn:upnp-org:serviceId:L3Forwarding1",
			control: "/ctl/L3F", scpd: "/L3F.xml", event: "/evt/L3F"}
		return &model{root: &device{name: "InternetGatewayDevice", version: v, udn: newUUID(), services: []service{l3f}}}
	}
	return &model{
		root: &device{
			name: "InternetGatewayDevice", version: v, udn: newUUID(),
			devices: []*device{{
				name: "WANDevice", version: v, udn: newUUID(), friendly: "WANDevice",
				services: []service{cmn},
				devices: []*device{{
					name: "WANConnectionDevice", version: v, udn: newUUID(), friendly: "WANConnectionDevice",
					services: withFirewall(cfg, conn),
				}},
			}},
		},
	}
}

// serviceAt returns the service whose control URL is path?query, or path
// alone when no control URL has that query.
func (m *model) serviceAt(path, query string) (service, bool) {
	if query != "" {
		for _, s := range m.services {
			if s.control == path+"?"+query {
				return s, true
			}
		}
	}
	for _, s := range m.services {
		if s.control == path {
			return s, true
		}
	}
	return service{}, false
}

// conn returns the first connection service, if the model has one.
func (m *model) conn() (service, bool) {
	for _, s := range m.services {
		if s.isConn() {
			return s, true
		}
	}
	return service{}, false
}

// scpdAt returns the service whose SCPD URL is path.
func (m *model) scpdAt(path string) (service, bool) {
	for _, s := range m.services {
		if s.scpd == path {
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
