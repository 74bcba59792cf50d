package discovery

import (
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// SSDP notification subtypes (the NTS header of a NOTIFY, UDA 2.0 §1.2).
const (
	// NTSAlive: the device is (still) there; sent at start-up and then
	// periodically.
	NTSAlive = "ssdp:alive"
	// NTSByeBye: the device is going away (a graceful shutdown).
	NTSByeBye = "ssdp:byebye"
	// NTSUpdate: the device moves to a new BOOTID.UPNP.ORG without having
	// restarted (UDA 1.1 §1.2.4: a multi-homed device whose interfaces
	// changed); NEXTBOOTID.UPNP.ORG says which.
	NTSUpdate = "ssdp:update"
)

// SSDPGroupV4 and SSDPGroupV6 are where SSDP NOTIFYs are multicast: the
// IPv4 group and the IPv6 link-local one (UDA 2.0 §1.1.2).
var (
	SSDPGroupV4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 255, 255, 250}), defaultSSDPPort)
	SSDPGroupV6 = netip.AddrPortFrom(netip.MustParseAddr("ff02::c"), defaultSSDPPort)
)

// maxBootID bounds BOOTID.UPNP.ORG, NEXTBOOTID.UPNP.ORG and
// CONFIGID.UPNP.ORG: UDA 1.1 §1.2.2 makes each a non-negative 31-bit
// integer.
const maxBootID = 1<<31 - 1

// Notify is one SSDP NOTIFY a device multicast.
type Notify struct {
	// From is the address and port it came from (any port: miniupnpd
	// sends from an ephemeral one).
	From netip.AddrPort
	// NTS is NTSAlive, NTSByeBye or NTSUpdate.
	NTS string
	// NT is the notification type (upnp:rootdevice, a device or service
	// type, a UUID); USN the unique service name.
	NT, USN string
	// Location is the description URL of an alive or update, its host set
	// to From's address (see the package documentation); nil for a
	// byebye. OriginalLocation is the header as sent.
	Location         *url.URL
	OriginalLocation string
	// BootID is BOOTID.UPNP.ORG, which a device increments each time it
	// restarts (HasBootID false when absent: UPnP 1.0 devices omit it).
	BootID    uint32
	HasBootID bool
	// NextBootID is an update's NEXTBOOTID.UPNP.ORG: the BOOTID it moves to.
	NextBootID    uint32
	HasNextBootID bool
	// ConfigID is CONFIGID.UPNP.ORG, which changes when the description
	// (or a service description) changes; HasConfigID false when absent.
	ConfigID    uint32
	HasConfigID bool
	// MaxAge is an alive's CACHE-CONTROL max-age; 0 if absent or unreadable.
	MaxAge time.Duration
}

// ParseNotify parses one SSDP NOTIFY received from the address from, as
// strictly as ParseResponse parses an answer: the request line must be
// "NOTIFY * HTTP/1.x", the datagram must fit in MaxDatagramSize, NT, NTS and
// USN are required and may appear once, NTS must be one of the three known
// subtypes, an alive or update needs an absolute http LOCATION (returned
// pinned to from's address), and the UPNP.ORG numbers, when present, must be
// decimal 31-bit integers (an update needs NEXTBOOTID.UPNP.ORG). Errors wrap
// ErrMalformed (ErrTooLarge for size).
func ParseNotify(b []byte, from netip.AddrPort) (*Notify, error) {
	if len(b) > MaxDatagramSize {
		return nil, ErrTooLarge
	}
	sender := from.Addr().Unmap()
	if !responderOK(sender) {
		return nil, malformed("sender address %v", from.Addr())
	}
	start, fields, err := splitHeader(b)
	if err != nil {
		return nil, err
	}
	if start != "NOTIFY * HTTP/1.1" && start != "NOTIFY * HTTP/1.0" {
		return nil, malformed("not an SSDP NOTIFY")
	}
	n := &Notify{From: netip.AddrPortFrom(sender, from.Port())}
	seen := map[string]bool{}
	for _, f := range fields {
		switch f.name {
		case "NT", "NTS", "USN", "LOCATION", "BOOTID.UPNP.ORG", "NEXTBOOTID.UPNP.ORG", "CONFIGID.UPNP.ORG":
			if seen[f.name] {
				return nil, malformed("duplicate %s", f.name)
			}
			seen[f.name] = true
		}
		switch f.name {
		case "NT":
			n.NT = f.value
		case "NTS":
			n.NTS = f.value
		case "USN":
			n.USN = f.value
		case "LOCATION":
			n.OriginalLocation = f.value
		case "CACHE-CONTROL":
			n.MaxAge = parseMaxAge(f.value)
		case "BOOTID.UPNP.ORG":
			if n.BootID, err = parseUPnPOrgNumber(f); err != nil {
				return nil, err
			}
			n.HasBootID = true
		case "NEXTBOOTID.UPNP.ORG":
			if n.NextBootID, err = parseUPnPOrgNumber(f); err != nil {
				return nil, err
			}
			n.HasNextBootID = true
		case "CONFIGID.UPNP.ORG":
			if n.ConfigID, err = parseUPnPOrgNumber(f); err != nil {
				return nil, err
			}
			n.HasConfigID = true
		}
	}
	if n.NT == "" || n.USN == "" {
		return nil, malformed("SSDP NOTIFY without NT or USN")
	}
	switch n.NTS {
	case NTSAlive, NTSUpdate:
		if n.OriginalLocation == "" {
			return nil, malformed("SSDP %s without LOCATION", n.NTS)
		}
		loc, err := parseLocation(n.OriginalLocation)
		if err != nil {
			return nil, err
		}
		n.Location = pinHost(loc, sender)
		if n.NTS == NTSUpdate && !n.HasNextBootID {
			return nil, malformed("SSDP update without NEXTBOOTID.UPNP.ORG")
		}
	case NTSByeBye:
		// A byebye has no LOCATION (UDA 2.0 §1.2.3); one that carries it
		// anyway is not trusted with it.
		n.OriginalLocation = ""
	default:
		return nil, malformed("SSDP NOTIFY with NTS %.32q", n.NTS)
	}
	return n, nil
}

// parseUPnPOrgNumber reads a BOOTID/NEXTBOOTID/CONFIGID value.
func parseUPnPOrgNumber(f headerField) (uint32, error) {
	v, err := strconv.ParseUint(f.value, 10, 32)
	if err != nil || v > maxBootID {
		return 0, malformed("%s %.16q is not a 31-bit decimal", f.name, f.value)
	}
	return uint32(v), nil
}
