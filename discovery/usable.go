package discovery

import (
	"fmt"
	"strings"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/safetext"
)

// Usable returns Services(types...) when there is at least one; otherwise an
// error wrapping ErrUnusableDevice whose message names the device and what it
// offers (see Offered), so that "this gateway has no port-mapping service" is
// told apart from "no gateway answered". Pass the service types the caller can
// speak, most preferred first (for port mapping, igd.ServiceTypes).
func (r *Root) Usable(types ...string) ([]Service, error) {
	if svcs := r.Services(types...); len(svcs) > 0 {
		return svcs, nil
	}
	return nil, fmt.Errorf("%w: %s", errs.UnusableDevice, r.Offered())
}

// Offered describes the device for people: its name and model and, device by
// device, the device type and its service types. Router-supplied text is
// cleaned and the whole is capped (safetext.Long), so it can go into an
// error message or onto a terminal as it is. Types in the UPnP Forum's
// domain are shortened ("WANIPConnection:1"); others keep their domain
// ("dslforum-org:WANPPPConnection:1"), which is what tells them apart.
func (r *Root) Offered() string {
	if r == nil {
		return "no description"
	}
	var b strings.Builder
	name := strings.TrimSpace(r.Device.FriendlyName + " " + r.Device.ModelName)
	if name == "" {
		name = "unnamed device"
	}
	b.WriteString(safetext.Clean(name, safetext.Short))
	b.WriteString(" offers ")
	for i, d := range r.Devices() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(shortType(d.DeviceType, "device"))
		b.WriteString(" [")
		for j, s := range d.Services {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(shortType(s.ServiceType, "service"))
		}
		b.WriteString("]")
		if b.Len() > 4*safetext.Long {
			break // the cap below cuts it anyway; stop building
		}
	}
	return safetext.Clean(b.String(), safetext.Long)
}

// shortType shortens "urn:schemas-upnp-org:<kind>:Name:1" to "Name:1" and
// "urn:other-domain:<kind>:Name:1" to "other-domain:Name:1"; anything else is
// returned as it is ("" becomes "?").
func shortType(urn, kind string) string {
	rest, ok := strings.CutPrefix(urn, "urn:")
	if !ok {
		if urn == "" {
			return "?"
		}
		return urn
	}
	domain, name, ok := strings.Cut(rest, ":"+kind+":")
	if !ok {
		return urn
	}
	if domain == "schemas-upnp-org" {
		return name
	}
	return domain + ":" + name
}
