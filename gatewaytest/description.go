package gatewaytest

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
)

// description renders the root device description (UDA 2.0 §2.3). URLs are
// relative, to be resolved against the LOCATION (UDA 1.1 dropped URLBase).
func (m *model) description() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1">` + "\n")
	b.WriteString("<specVersion><major>1</major><minor>1</minor></specVersion>\n")
	writeDevice(&b, m.root, m.nest)
	b.WriteString("</root>\n")
	return b.Bytes()
}

// writeDevice writes d and its embedded devices; nest bare devices nested
// inside each other come first in d's deviceList (Config.NestedDevices).
func writeDevice(b *bytes.Buffer, d *device, nest int) {
	b.WriteString("<device>\n")
	tag(b, "deviceType", d.typ())
	tag(b, "friendlyName", d.friendly)
	tag(b, "manufacturer", "upnpmap")
	tag(b, "manufacturerURL", "https://github.com/upnpmap/upnpmap")
	tag(b, "modelDescription", "fake router for tests")
	tag(b, "modelName", cmp.Or(d.modelName, defaultModelName))
	tag(b, "modelNumber", "1")
	tag(b, "serialNumber", "00000001")
	tag(b, "UDN", d.udn)
	if len(d.services) > 0 {
		b.WriteString("<serviceList>\n")
		for _, s := range d.services {
			b.WriteString("<service>")
			tag(b, "serviceType", s.typ())
			tag(b, "serviceId", s.id)
			tag(b, "SCPDURL", s.scpd)
			tag(b, "controlURL", s.control)
			tag(b, "eventSubURL", s.event)
			b.WriteString("</service>\n")
		}
		b.WriteString("</serviceList>\n")
	}
	if len(d.devices) > 0 || nest > 0 {
		b.WriteString("<deviceList>\n")
		writeNest(b, nest)
		for _, c := range d.devices {
			writeDevice(b, c, 0)
		}
		b.WriteString("</deviceList>\n")
	}
	b.WriteString("</device>\n")
}

// NestedDeviceBytes is what each level of Config.NestedDevices adds to the
// description.
const NestedDeviceBytes = len("<device><deviceList>") + len("</deviceList></device>")

// writeNest writes n bare devices, each inside the one before: no type, no
// UDN, nothing but the nesting that a parser has to keep track of.
func writeNest(b *bytes.Buffer, n int) {
	for range n {
		b.WriteString("<device><deviceList>")
	}
	for range n {
		b.WriteString("</deviceList></device>")
	}
}

// tag writes <name>escaped value</name>.
func tag(b *bytes.Buffer, name, value string) {
	fmt.Fprintf(b, "<%s>", name)
	_ = xml.EscapeText(b, []byte(value))
	fmt.Fprintf(b, "</%s>", name)
}

// scpd renders a minimal service description: the actions the gateway
// implements for that service, without argument lists (no client we know
// of reads them; they are served so that a fetch does not 404).
func scpd(actions []string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<scpd xmlns="urn:schemas-upnp-org:service-1-0">` + "\n")
	b.WriteString("<specVersion><major>1</major><minor>1</minor></specVersion>\n<actionList>\n")
	for _, a := range actions {
		b.WriteString("<action>")
		tag(&b, "name", a)
		b.WriteString("</action>\n")
	}
	b.WriteString("</actionList>\n<serviceStateTable/>\n</scpd>\n")
	return b.Bytes()
}
