package gatewaytest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on a captured description (Config.Replay). Captures are test
// fixtures, but a fuzzer or a bad capture must not make the parser run away.
const (
	maxReplayFile     = 1 << 20 // bytes, for each file of a capture
	maxReplayDepth    = 64      // nesting of XML elements
	maxReplayDevices  = 256
	maxReplayServices = 256
)

var errReplay = errors.New("unusable capture")

// capturedDevice is one device of a captured description.
type capturedDevice struct {
	deviceType string
	udn        string
	services   []capturedService
	devices    []*capturedDevice
}

// capturedService is one service as the capture lists it; URLs are as
// written.
type capturedService struct {
	serviceType, serviceID        string
	scpdURL, controlURL, eventURL string
}

// capturedDescription is what the gateway needs of a rootDesc.xml.
type capturedDescription struct {
	urlBase string
	root    *capturedDevice
}

// parseCapturedDescription reads the device tree and URLBase of a device
// description, by local element names (namespaces and prefixes vary between
// vendors), bounded in depth and size.
func parseCapturedDescription(b []byte) (*capturedDescription, error) {
	if len(b) > maxReplayFile {
		return nil, fmt.Errorf("%w: description of %d bytes", errReplay, len(b))
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = charsetReader
	var (
		out      capturedDescription
		path     []string          // open element names
		devs     []*capturedDevice // open devices
		svc      *capturedService
		text     strings.Builder
		ndev, ns int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errReplay, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			if len(path) > maxReplayDepth {
				return nil, fmt.Errorf("%w: nested deeper than %d", errReplay, maxReplayDepth)
			}
			text.Reset()
			switch t.Name.Local {
			case "device":
				if ndev++; ndev > maxReplayDevices {
					return nil, fmt.Errorf("%w: more than %d devices", errReplay, maxReplayDevices)
				}
				dev := &capturedDevice{}
				switch {
				case len(devs) > 0:
					parent := devs[len(devs)-1]
					parent.devices = append(parent.devices, dev)
				case out.root == nil && len(path) == 2:
					out.root = dev
				default:
					return nil, fmt.Errorf("%w: device outside the root device", errReplay)
				}
				devs = append(devs, dev)
			case "service":
				if len(devs) == 0 {
					return nil, fmt.Errorf("%w: service outside a device", errReplay)
				}
				if ns++; ns > maxReplayServices {
					return nil, fmt.Errorf("%w: more than %d services", errReplay, maxReplayServices)
				}
				svc = &capturedService{}
			}
		case xml.CharData:
			if text.Len()+len(t) <= 4096 {
				text.Write(t)
			}
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			switch name := t.Name.Local; {
			case name == "URLBase" && len(path) == 2:
				out.urlBase = v
			case name == "device" && len(devs) > 0:
				devs = devs[:len(devs)-1]
			case name == "service" && svc != nil:
				dev := devs[len(devs)-1]
				dev.services = append(dev.services, *svc)
				svc = nil
			case svc != nil:
				svc.set(name, v)
			case len(devs) > 0 && len(path) >= 2 && path[len(path)-2] == "device":
				dev := devs[len(devs)-1]
				switch name {
				case "deviceType":
					dev.deviceType = v
				case "UDN":
					dev.udn = v
				}
			}
			path = path[:len(path)-1]
			text.Reset()
		}
	}
	if out.root == nil {
		return nil, fmt.Errorf("%w: no root device", errReplay)
	}
	return &out, nil
}

// set stores one child element of <service>.
func (s *capturedService) set(name, v string) {
	switch name {
	case "serviceType":
		s.serviceType = v
	case "serviceId":
		s.serviceID = v
	case "SCPDURL":
		s.scpdURL = v
	case "controlURL":
		s.controlURL = v
	case "eventSubURL":
		s.eventURL = v
	}
}

// splitType splits "urn:domain:kind:Name:v" into "urn:domain:kind:", Name
// and v. ok is false when the type has no such shape.
func splitType(typ string) (prefix, name string, version int, ok bool) {
	i := strings.LastIndexByte(typ, ':')
	if i < 0 {
		return "", "", 0, false
	}
	v, err := strconv.Atoi(typ[i+1:])
	if err != nil || v < 1 {
		return "", "", 0, false
	}
	j := strings.LastIndexByte(typ[:i], ':')
	if j < 0 || j+1 == i {
		return "", "", 0, false
	}
	return typ[:j+1], typ[j+1 : i], v, true
}

// servedPath is the path (with its query, if any: routers such as D-Link's
// and DD-WRT tell services apart by it) a URL of the capture points at once
// its host is the gateway's: ref resolved against URLBase (itself
// rewritten) or the description's own URL. ok is false for an empty or
// unparsable ref.
func servedPath(urlBase, ref string) (string, bool) {
	if ref == "" {
		return "", false
	}
	base, _ := url.Parse("http://gatewaytest.invalid" + descPath)
	if urlBase != "" {
		if u, err := url.Parse(rewriteHost(urlBase, "gatewaytest.invalid")); err == nil {
			base = base.ResolveReference(u)
		}
	}
	u, err := url.Parse(rewriteHost(ref, "gatewaytest.invalid"))
	if err != nil {
		return "", false
	}
	r := base.ResolveReference(u)
	if r.Path == "" {
		return "", false
	}
	if r.RawQuery != "" {
		return r.Path + "?" + r.RawQuery, true
	}
	return r.Path, true
}

// rewriteHost replaces the scheme and host of an absolute http(s) URL with
// http://host, keeping the path and query; other text is returned as it
// is (relative URLs stay relative).
func rewriteHost(s, host string) string {
	lower := strings.ToLower(s)
	var rest string
	switch {
	case strings.HasPrefix(lower, "http://"):
		rest = s[len("http://"):]
	case strings.HasPrefix(lower, "https://"):
		rest = s[len("https://"):]
	default:
		return s
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	return "http://" + host + rest
}

// charsetReader lets captures declare Latin-1 or ASCII (older firmware
// does), decoding them to UTF-8.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252":
		b, err := io.ReadAll(io.LimitReader(input, maxReplayFile+1))
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, 2*len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	case "utf8":
		return input, nil
	}
	return nil, fmt.Errorf("unsupported charset %.32q", charset)
}
