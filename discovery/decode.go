package discovery

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Limits checked while the description is decoded, token by token, so that a
// hostile document is rejected when it crosses one, before the decoder or the
// tree has grown with it: a description nested 6,000 deep costs no more than
// the first maxXMLDepth levels (BenchmarkParseHostileDeep).
const (
	// maxXMLDepth bounds element nesting: the root, a device/deviceList pair
	// per device level, then serviceList/service/field or an extension's
	// few levels (iconList/icon/url) below the deepest device.
	maxXMLDepth = 2*maxDeviceDepth + 8
	// maxElements bounds the elements of one description; real gateways
	// send a few hundred.
	maxElements = 8192
	// maxFieldBytes bounds the character data kept for one text field
	// before text() trims and caps it to maxTextField; the slack leaves room
	// for surrounding white space.
	maxFieldBytes = 4 * maxTextField
)

// The XML shapes of the UPnP device description (UDA 1.1 §2.3). Element
// names are matched without namespace: devices disagree on it.
type xmlRoot struct {
	SpecVersion xmlVersion
	URLBase     string
	Device      *xmlDevice
}

type xmlVersion struct {
	Major, Minor string
}

type xmlDevice struct {
	DeviceType       string
	FriendlyName     string
	Manufacturer     string
	ModelName        string
	ModelNumber      string
	ModelDescription string
	UDN              string
	Services         []xmlService
	Devices          []xmlDevice
}

type xmlService struct {
	ServiceType string
	ServiceID   string
	ControlURL  string
	SCPDURL     string
	EventSubURL string
}

// treeDecoder reads a description's tokens and counts as it goes.
type treeDecoder struct {
	d        *xml.Decoder
	depth    int // elements open
	elements int // elements seen
	devices  int
	services int
}

func newTreeDecoder(b []byte) *treeDecoder {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = charsetReader
	return &treeDecoder{d: d}
}

// token returns the next token, enforcing the depth and element limits.
// Comments, processing instructions and directives are dropped.
func (t *treeDecoder) token() (xml.Token, error) {
	for {
		tok, err := t.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, malformed("device description: unexpected end of document")
			}
			return nil, malformed("device description: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			if t.depth++; t.depth > maxXMLDepth {
				return nil, malformed("device description nested deeper than %d elements", maxXMLDepth)
			}
			if t.elements++; t.elements > maxElements {
				return nil, malformed("device description with more than %d elements", maxElements)
			}
		case xml.EndElement:
			t.depth--
		case xml.CharData:
		default:
			continue
		}
		return tok, nil
	}
}

// children calls fn for each child element of the element just opened, up to
// its end tag. fn must consume the child whole (its end tag included).
// Character data between children is ignored.
func (t *treeDecoder) children(fn func(name string) error) error {
	for {
		tok, err := t.token()
		if err != nil {
			return err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if err := fn(el.Name.Local); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// skip consumes the rest of the element just opened, through the counting
// token reader (xml.Decoder.Skip would bypass the limits).
func (t *treeDecoder) skip() error {
	return t.children(func(string) error { return t.skip() })
}

// text returns the character data directly inside the element just opened
// (nested elements are skipped, as encoding/xml does for a string field),
// keeping at most maxFieldBytes of it.
func (t *treeDecoder) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := t.token()
		if err != nil {
			return "", err
		}
		switch el := tok.(type) {
		case xml.CharData:
			if room := maxFieldBytes - b.Len(); room > 0 {
				b.Write(el[:min(len(el), room)])
			}
		case xml.StartElement:
			if err := t.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// root decodes the document element, which must be <root>. Anything after it
// is not read.
func (t *treeDecoder) root() (*xmlRoot, error) {
	for {
		tok, err := t.token()
		if err != nil {
			return nil, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue // white space before the root
		}
		if el.Name.Local != "root" {
			return nil, malformed("device description: root element is <%.32s>, not <root>", el.Name.Local)
		}
		break
	}
	x := &xmlRoot{}
	err := t.children(func(name string) (err error) {
		switch name {
		case "specVersion":
			return t.children(func(name string) (err error) {
				switch name {
				case "major":
					x.SpecVersion.Major, err = t.text()
				case "minor":
					x.SpecVersion.Minor, err = t.text()
				default:
					err = t.skip()
				}
				return err
			})
		case "URLBase":
			x.URLBase, err = t.text()
		case "device":
			if x.Device != nil {
				return t.skip() // one root device; a second is not ours to guess at
			}
			x.Device = &xmlDevice{}
			return t.device(x.Device, 1)
		default:
			return t.skip()
		}
		return err
	})
	return x, err
}

// device decodes a <device> at device level depth (the root device is 1).
func (t *treeDecoder) device(x *xmlDevice, depth int) error {
	if depth > maxDeviceDepth {
		return malformed("device description nested deeper than %d devices", maxDeviceDepth)
	}
	if t.devices++; t.devices > maxDevices {
		return malformed("device description with more than %d devices", maxDevices)
	}
	fields := map[string]*string{
		"deviceType":       &x.DeviceType,
		"friendlyName":     &x.FriendlyName,
		"manufacturer":     &x.Manufacturer,
		"modelName":        &x.ModelName,
		"modelNumber":      &x.ModelNumber,
		"modelDescription": &x.ModelDescription,
		"UDN":              &x.UDN,
	}
	return t.children(func(name string) (err error) {
		if p, ok := fields[name]; ok {
			*p, err = t.text()
			return err
		}
		switch name {
		case "serviceList":
			return t.children(func(name string) error {
				if name != "service" {
					return t.skip()
				}
				if t.services++; t.services > maxServices {
					return malformed("device description with more than %d services", maxServices)
				}
				x.Services = append(x.Services, xmlService{})
				return t.service(&x.Services[len(x.Services)-1])
			})
		case "deviceList":
			return t.children(func(name string) error {
				if name != "device" {
					return t.skip()
				}
				x.Devices = append(x.Devices, xmlDevice{})
				return t.device(&x.Devices[len(x.Devices)-1], depth+1)
			})
		}
		return t.skip()
	})
}

// service decodes a <service>.
func (t *treeDecoder) service(x *xmlService) error {
	fields := map[string]*string{
		"serviceType": &x.ServiceType,
		"serviceId":   &x.ServiceID,
		"controlURL":  &x.ControlURL,
		"SCPDURL":     &x.SCPDURL,
		"eventSubURL": &x.EventSubURL,
	}
	return t.children(func(name string) (err error) {
		if p, ok := fields[name]; ok {
			*p, err = t.text()
			return err
		}
		return t.skip()
	})
}
