package discovery

import (
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Root is a parsed device description (the document at LOCATION).
type Root struct {
	// Location is the URL the description was fetched from (pinned to the
	// responder).
	Location *url.URL
	// URLBase is the document's URLBase (pinned to the responder), or nil
	// when it had none; relative URLs were resolved against it if present,
	// else against Location.
	URLBase *url.URL
	// SpecVersion is the UPnP architecture version, "1.0", "1.1" or "2.0".
	SpecVersion string
	// Device is the root device; embedded devices are in Device.Devices.
	Device Device
}

// Device is one device of a description.
type Device struct {
	DeviceType       string
	FriendlyName     string
	Manufacturer     string
	ModelName        string
	ModelNumber      string
	ModelDescription string
	UDN              string
	Services         []Service
	Devices          []Device
}

// Service is one service of a device. The URLs are resolved and pinned to
// the responder; a URL that was missing or unusable is nil.
type Service struct {
	ServiceType string
	ServiceID   string
	ControlURL  *url.URL
	SCPDURL     *url.URL
	EventSubURL *url.URL
}

// Services returns the services whose type is one of types, in the order of
// types (so the first is the most preferred), each group in depth-first
// document order. With no types it returns every service. Only services with
// a usable control URL are returned.
func (r *Root) Services(types ...string) []Service {
	if r == nil {
		return nil
	}
	var out []Service
	if len(types) == 0 {
		r.Device.walk(func(s Service) { out = append(out, s) })
		return out
	}
	for _, t := range types {
		r.Device.walk(func(s Service) {
			if s.ServiceType == t {
				out = append(out, s)
			}
		})
	}
	return out
}

// Devices returns every device of the tree (the root first), depth-first.
func (r *Root) Devices() []*Device {
	if r == nil {
		return nil
	}
	var out []*Device
	var visit func(d *Device)
	visit = func(d *Device) {
		out = append(out, d)
		for i := range d.Devices {
			visit(&d.Devices[i])
		}
	}
	visit(&r.Device)
	return out
}

func (d *Device) walk(fn func(Service)) {
	for _, s := range d.Services {
		if s.ControlURL != nil {
			fn(s)
		}
	}
	for i := range d.Devices {
		d.Devices[i].walk(fn)
	}
}

// Limits on a description's tree. A real IGD has three levels (the gateway,
// the WAN device, the WAN connection device) and a handful of services.
const (
	maxDeviceDepth = 8
	maxDevices     = 64
	maxServices    = 256
	maxTextField   = 1024
)

// ParseDescription parses a device description fetched from location (which
// must be an absolute http URL) served by responder. Every URL in the result
// is resolved against URLBase, or location when there is none, and pinned to
// responder (see the package documentation). The tree is bounded (depth 8,
// 64 devices, 256 services); a document beyond that is rejected.
//
// Documents in UTF-8, US-ASCII and ISO-8859-1 (Latin-1) are accepted; other
// declared encodings are rejected with ErrMalformed.
//
// A document that cannot be used (malformed, beyond the limits, no root
// device) gives an error wrapping both ErrMalformed and ErrUnusableDevice:
// the device answered, but not with anything a client can use. The limits
// are enforced while decoding, so a hostile document costs no more than the
// part read before it crossed one.
func ParseDescription(b []byte, location *url.URL, responder netip.Addr) (*Root, error) {
	if location == nil {
		return nil, fmt.Errorf("%w: nil location", ErrInvalidArgs)
	}
	responder = responder.Unmap()
	if !responderOK(responder) {
		return nil, fmt.Errorf("%w: responder address %v", ErrInvalidArgs, responder)
	}
	loc, err := parseLocation(location.String())
	if err != nil {
		return nil, err
	}
	loc = pinHost(loc, responder)

	x, err := newTreeDecoder(b).root()
	if err != nil {
		return nil, unusable(err)
	}
	if x.Device == nil {
		return nil, unusable(malformed("device description without a root device"))
	}
	root := &Root{Location: loc, SpecVersion: specVersion(x.SpecVersion)}
	base := loc
	if s := strings.TrimSpace(x.URLBase); s != "" {
		// A URLBase that is not a usable absolute http URL is ignored,
		// as if absent: the LOCATION is the better base then.
		if u, err := parseLocation(s); err == nil {
			root.URLBase = pinHost(u, responder)
			base = root.URLBase
		}
	}
	c := converter{base: base, responder: responder}
	root.Device = c.device(x.Device)
	return root, nil
}

// converter turns the XML tree (already bounded by the decoder) into the
// public one.
type converter struct {
	base      *url.URL
	responder netip.Addr
}

func (c *converter) device(x *xmlDevice) Device {
	d := Device{
		DeviceType:       text(x.DeviceType),
		FriendlyName:     text(x.FriendlyName),
		Manufacturer:     text(x.Manufacturer),
		ModelName:        text(x.ModelName),
		ModelNumber:      text(x.ModelNumber),
		ModelDescription: text(x.ModelDescription),
		UDN:              text(x.UDN),
	}
	for _, s := range x.Services {
		d.Services = append(d.Services, Service{
			ServiceType: text(s.ServiceType),
			ServiceID:   text(s.ServiceID),
			ControlURL:  resolvePinned(c.base, s.ControlURL, c.responder),
			SCPDURL:     resolvePinned(c.base, s.SCPDURL, c.responder),
			EventSubURL: resolvePinned(c.base, s.EventSubURL, c.responder),
		})
	}
	for i := range x.Devices {
		d.Devices = append(d.Devices, c.device(&x.Devices[i]))
	}
	return d
}

// text trims a text field and bounds its length (on a rune boundary).
func text(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxTextField {
		return s
	}
	s = s[:maxTextField]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func specVersion(v xmlVersion) string {
	maj, min := strings.TrimSpace(v.Major), strings.TrimSpace(v.Minor)
	if maj == "" || len(maj) > 4 || len(min) > 4 {
		return ""
	}
	if min == "" {
		min = "0"
	}
	return maj + "." + min
}

// charsetReader lets encoding/xml read the encodings routers actually
// declare besides UTF-8: ISO-8859-1 (and its aliases) and US-ASCII, both
// mapped byte for byte onto Unicode. Any other encoding is refused rather
// than decoded wrongly.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819", "ibm819",
		"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us":
		return &latin1Reader{r: input}, nil
	case "utf8":
		return input, nil
	}
	return nil, fmt.Errorf("unsupported charset %.32q", charset)
}

// latin1Reader converts ISO-8859-1 bytes to UTF-8. (US-ASCII is a subset;
// stray high bytes in a document that claims ASCII are read as Latin-1
// rather than failing.)
type latin1Reader struct {
	r       io.Reader
	pending []byte // encoded output not yet returned
	buf     [512]byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.pending) == 0 {
		n, err := l.r.Read(l.buf[:])
		if n == 0 {
			return 0, err
		}
		out := make([]byte, 0, 2*n)
		for _, c := range l.buf[:n] {
			out = utf8.AppendRune(out, rune(c))
		}
		l.pending = out
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}
