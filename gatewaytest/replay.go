package gatewaytest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"sync"
)

// A replayed capture (Config.Replay) is a directory laid out as the
// project's testdata/routers/<vendor-model>/ fixtures are:
//
//	rootDesc.xml       the device description as the router served it
//	<name>.xml         SCPDs, named by the last path element of their SCPDURL
//	soap/<Action>.xml  captured SOAP response bodies (optional)
//	SOURCE.md          where the capture came from (not read)
//
// The gateway serves rootDesc.xml at its LOCATION with URLBase and every
// absolute URL moved to its own address (relative URLs are kept), each SCPD
// at its SCPDURL, and SOAP on every service's controlURL: the WAN*Connection
// services (whatever their URN domain, e.g. urn:dslforum-org) answer the
// port-mapping actions from the gateway's table, and every action without
// state answers with its captured body when there is one.

// replay is a loaded capture.
type replay struct {
	desc  []byte            // rootDesc.xml as captured
	scpds map[string][]byte // served path -> SCPD
	soap  map[string][]byte // action name -> captured response body
	tree  *capturedDescription
}

// Files of a capture.
const (
	replayDesc    = "rootDesc.xml"
	replaySOAPDir = "soap"
)

// loadReplay reads a capture from fsys.
func loadReplay(fsys fs.FS) (*replay, error) {
	desc, err := readReplayFile(fsys, replayDesc)
	if err != nil {
		return nil, err
	}
	tree, err := parseCapturedDescription(desc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", replayDesc, err)
	}
	r := &replay{desc: desc, scpds: map[string][]byte{}, soap: map[string][]byte{}, tree: tree}
	var walkErr error
	tree.root.walk(func(d *capturedDevice) {
		for _, s := range d.services {
			p, ok := servedPath(tree.urlBase, s.scpdURL)
			if !ok || walkErr != nil {
				continue
			}
			p, _, _ = strings.Cut(p, "?")
			b, err := readSCPD(fsys, path.Base(p))
			switch {
			case err == nil:
				r.scpds[p] = b
			case !errors.Is(err, fs.ErrNotExist):
				walkErr = err
			}
		}
	})
	if walkErr != nil {
		return nil, walkErr
	}
	entries, err := fs.ReadDir(fsys, replaySOAPDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", replaySOAPDir, err)
	}
	for _, e := range entries {
		action, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || e.IsDir() {
			continue
		}
		b, err := readReplayFile(fsys, path.Join(replaySOAPDir, e.Name()))
		if err != nil {
			return nil, err
		}
		r.soap[action] = b
	}
	return r, nil
}

// readSCPD reads the SCPD named by the last path element of its SCPDURL,
// or by that name with ':' replaced by '_' (Go module file names cannot
// hold ':', so fixtures rename e.g. WANPPPConnection:1.xml).
func readSCPD(fsys fs.FS, name string) ([]byte, error) {
	b, err := readReplayFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) && strings.Contains(name, ":") {
		return readReplayFile(fsys, strings.ReplaceAll(name, ":", "_"))
	}
	return b, err
}

// readReplayFile reads one file of a capture, bounded by maxReplayFile.
func readReplayFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReplayFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxReplayFile {
		return nil, fmt.Errorf("%s: %w: over %d bytes", name, errReplay, maxReplayFile)
	}
	return b, nil
}

// walk calls f for d and every device below it, depth first.
func (d *capturedDevice) walk(f func(*capturedDevice)) {
	f(d)
	for _, c := range d.devices {
		c.walk(f)
	}
}

// igdVersion is the InternetGatewayDevice version of the root device, or of
// the first connection service when the root is something else; 0 if
// neither says.
func (r *replay) igdVersion() int {
	if _, name, v, ok := splitType(r.tree.root.deviceType); ok && name == "InternetGatewayDevice" {
		return v
	}
	v := 0
	r.tree.root.walk(func(d *capturedDevice) {
		for _, s := range d.services {
			if _, name, sv, ok := splitType(s.serviceType); ok && v == 0 && (service{name: name}).isConn() {
				v = sv
			}
		}
	})
	return v
}

// model builds the device tree SSDP and SOAP serve from the capture.
// Devices and services whose types have no "…:Name:version" shape are kept
// out of SSDP answers and SOAP routing but stay in the served description.
func (r *replay) model() *model {
	m := &model{}
	var build func(c *capturedDevice) *device
	build = func(c *capturedDevice) *device {
		d := &device{udn: c.udn}
		d.urn, d.name, d.version, _ = splitType(c.deviceType)
		for _, cs := range c.services {
			s := service{id: cs.serviceID}
			var ok bool
			if s.urn, s.name, s.version, ok = splitType(cs.serviceType); !ok {
				continue
			}
			s.control, _ = servedPath(r.tree.urlBase, cs.controlURL)
			s.scpd, _ = servedPath(r.tree.urlBase, cs.scpdURL)
			s.event, _ = servedPath(r.tree.urlBase, cs.eventURL)
			d.services = append(d.services, s)
		}
		for _, cc := range c.devices {
			d.devices = append(d.devices, build(cc))
		}
		return d
	}
	m.root = build(r.tree.root)
	m.root.walk(func(d *device) {
		for _, s := range d.services {
			if s.control != "" {
				m.services = append(m.services, s)
			}
		}
	})
	return m
}

// urlElement matches the elements whose text is a URL, with any namespace
// prefix: group 1 is the opening tag, 2 the URL, 3 the closing tag. It is
// compiled on first use: the CLI links this package (demo, gateway), and a
// package-level compile cost every upnpmap start 0.1 ms and 93 allocations.
var urlElement = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(<(?:[A-Za-z_][\w.-]*:)?(?:URLBase|SCPDURL|controlURL|eventSubURL|presentationURL)>)\s*([^<]*?)\s*(</)`)
})

// description is the capture with absolute URLs moved to hostport.
func (r *replay) description(hostport string) []byte {
	re := urlElement()
	return re.ReplaceAllFunc(r.desc, func(m []byte) []byte {
		sub := re.FindSubmatch(m)
		return []byte(string(sub[1]) + rewriteHost(string(sub[2]), hostport) + string(sub[3]))
	})
}

// capturedReply returns the captured body for an action that keeps no
// state, if the capture has one. Mapping actions always use the table.
func (r *replay) capturedReply(action string) ([]byte, bool) {
	if r == nil || mappingActions[action] {
		return nil, false
	}
	b, ok := r.soap[action]
	return b, ok
}

// mappingActions read or change the mapping table.
var mappingActions = map[string]bool{
	"AddPortMapping": true, "AddAnyPortMapping": true, "DeletePortMapping": true,
	"DeletePortMappingRange": true, "GetSpecificPortMappingEntry": true,
	"GetGenericPortMappingEntry": true, "GetListOfPortMappings": true,
}
