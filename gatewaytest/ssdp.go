package gatewaytest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ServerHeader is the SERVER header of SSDP answers and HTTP responses, in
// the "OS/version UPnP/1.1 product/version" form UDA asks for.
const ServerHeader = "Linux/6.1 UPnP/1.1 gatewaytest/1.0"

// maxSSDPHeaders bounds the header lines an M-SEARCH may carry.
const maxSSDPHeaders = 32

// parseMSearch checks an M-SEARCH request and returns its search target.
// It is strict where UDA is: the request line must be exactly
// "M-SEARCH * HTTP/1.1" and MAN must be the quoted "ssdp:discover" (strict
// devices drop unquoted ones). MX is not required: this is unicast.
func parseMSearch(b []byte) (st string, ok bool) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) < 2 || strings.TrimRight(lines[0], " ") != "M-SEARCH * HTTP/1.1" {
		return "", false
	}
	var man string
	n := 0
	for _, l := range lines[1:] {
		if l == "" {
			break // end of headers; an M-SEARCH has no body
		}
		if n++; n > maxSSDPHeaders {
			return "", false
		}
		k, v, found := strings.Cut(l, ":")
		if !found {
			return "", false
		}
		v = strings.TrimSpace(v)
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "MAN":
			man = v
		case "ST":
			st = v
		case "MX":
			if _, err := strconv.ParseUint(v, 10, 8); err != nil {
				return "", false
			}
		}
	}
	if man != `"ssdp:discover"` || st == "" {
		return "", false
	}
	return st, true
}

// ssdpAnswer is one (ST, USN) pair to answer with.
type ssdpAnswer struct{ st, usn string }

// answers lists what the model answers to a search target. A device or
// service type matches when the name is ours and the requested version is
// not higher than ours; the answer echoes the requested ST (UDA: devices
// answer searches for lower versions with the version asked for).
func (m *model) answers(st string) []ssdpAnswer {
	var out []ssdpAnswer
	rootUDN := m.root.udn
	switch {
	case st == "ssdp:all":
		out = append(out, ssdpAnswer{"upnp:rootdevice", rootUDN + "::upnp:rootdevice"})
		m.root.walk(func(d *device) {
			out = append(out, ssdpAnswer{d.udn, d.udn}, ssdpAnswer{d.typ(), d.udn + "::" + d.typ()})
			for _, s := range d.services {
				out = append(out, ssdpAnswer{s.typ(), d.udn + "::" + s.typ()})
			}
		})
	case st == "upnp:rootdevice":
		out = append(out, ssdpAnswer{st, rootUDN + "::upnp:rootdevice"})
	case strings.HasPrefix(st, "uuid:"):
		m.root.walk(func(d *device) {
			if d.udn == st {
				out = append(out, ssdpAnswer{st, st})
			}
		})
	default:
		m.root.walk(func(d *device) {
			if typeMatches(st, d.prefix(), d.name, d.version) {
				out = append(out, ssdpAnswer{st, d.udn + "::" + st})
			}
			for _, s := range d.services {
				if typeMatches(st, s.prefix(), s.name, s.version) {
					out = append(out, ssdpAnswer{st, d.udn + "::" + st})
				}
			}
		})
	}
	return out
}

// typeMatches reports whether st is prefix+name+":"+v with 1 ≤ v ≤ version.
func typeMatches(st, prefix, name string, version int) bool {
	rest, ok := strings.CutPrefix(st, prefix+name+":")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(rest)
	return err == nil && v >= 1 && v <= version && strconv.Itoa(v) == rest
}

// handleSSDP answers a unicast M-SEARCH with one datagram per match.
func (g *Gateway) handleSSDP(pkt []byte, from netip.AddrPort) ([]byte, string) {
	st, ok := parseMSearch(pkt)
	if !ok {
		return nil, ""
	}
	g.mu.Lock()
	g.st.requests[SSDP]++
	silent := g.st.silent[SSDP]
	loc := g.locationLocked()
	bootID, configID := g.st.boots, g.gena.config()
	out := g.ssdp
	if g.st.static && g.static != nil {
		out = g.static
	}
	g.mu.Unlock()
	if silent || loc == "" {
		return nil, ""
	}
	for _, a := range g.model.answers(st) {
		g.send(out, ssdpResponse(a, loc, bootID, configID), from, SSDP)
	}
	return nil, ""
}

// ssdpResponse formats one search answer (UDA 2.0 §1.3.3).
func ssdpResponse(a ssdpAnswer, location string, bootID, configID int) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("CACHE-CONTROL: max-age=120\r\n")
	b.WriteString("EXT:\r\n")
	fmt.Fprintf(&b, "LOCATION: %s\r\n", location)
	fmt.Fprintf(&b, "SERVER: %s\r\n", ServerHeader)
	fmt.Fprintf(&b, "ST: %s\r\n", a.st)
	fmt.Fprintf(&b, "USN: %s\r\n", a.usn)
	fmt.Fprintf(&b, "BOOTID.UPNP.ORG: %d\r\n", bootID)
	fmt.Fprintf(&b, "CONFIGID.UPNP.ORG: %d\r\n", configID)
	b.WriteString("\r\n")
	return b.Bytes()
}

// locationLocked is the LOCATION to advertise; the caller holds g.mu.
func (g *Gateway) locationLocked() string {
	if g.http == nil {
		return ""
	}
	port := strconv.Itoa(int(g.http.port))
	host := g.addr.String()
	if g.st.static && g.static != nil {
		host = g.static.LocalAddr().(*net.UDPAddr).AddrPort().Addr().String()
	}
	if h := g.st.location; h != "" {
		if _, _, err := net.SplitHostPort(h); err == nil {
			return "http://" + h + descPath
		}
		host = strings.Trim(h, "[]")
	}
	return "http://" + net.JoinHostPort(host, port) + descPath
}
