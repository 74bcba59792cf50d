package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// mapSpec is one mapping asked for on the command line: `add EXTPORT
// [HOST:]PORT` or `run --map [PROTO:]EXTPORT[:[HOST:]PORT]`.
type mapSpec struct {
	protos []string   // "tcp", "udp"; from the spec's prefix or --tcp/--udp
	ext    uint16     // external port wished for
	host   netip.Addr // internal host; zero = this machine
	port   uint16     // internal port
}

// relaySpec is `relay LISTEN TARGET` or `run --relay [PROTO:]LISTEN=TARGET`.
type relaySpec struct {
	proto  string // "tcp" or "udp"
	listen string // host:port to listen on, host may be empty (all addresses)
	target string // host:port to relay to
}

// parsePort reads a port number 1-65535 (decimal only: "0x50" and "+80" are
// mistakes, not ports).
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// parseTarget reads "[HOST:]PORT". HOST must be an IP address (the router
// wants an address, and resolving names would send packets we did not ask
// for); IPv6 goes in brackets.
func parseTarget(s string) (netip.Addr, uint16, error) {
	if !strings.Contains(s, ":") {
		p, err := parsePort(s)
		return netip.Addr{}, p, err
	}
	h, ps, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: want [HOST:]PORT, e.g. 192.168.1.4:80 or 8080", s)
	}
	p, err := parsePort(ps)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if h == "" {
		return netip.Addr{}, p, nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, fmt.Errorf("%q: HOST must be an IP address, e.g. 192.168.1.4", h)
	}
	return a.Unmap(), p, nil
}

// cutProto strips a "tcp:" or "udp:" prefix (any case).
func cutProto(s string) (proto, rest string) {
	if len(s) >= 4 && s[3] == ':' {
		switch p := strings.ToLower(s[:3]); p {
		case "tcp", "udp":
			return p, s[4:]
		}
	}
	return "", s
}

// parseMapSpec reads "[tcp:|udp:]EXTPORT[:[HOST:]PORT]": "80:8080" maps
// external 80 to local 8080, "udp:27015" maps 27015 to 27015, and
// "80:192.168.1.4:80" maps to another host. Without a prefix the protocols
// are defProtos (from --tcp/--udp).
func parseMapSpec(s string, defProtos []string) (mapSpec, error) {
	proto, rest := cutProto(s)
	extS, tgt, hasTarget := strings.Cut(rest, ":")
	ext, err := parsePort(extS)
	if err != nil {
		return mapSpec{}, fmt.Errorf("--map %q: %v; want [tcp:|udp:]EXTPORT[:[HOST:]PORT]", s, err)
	}
	m := mapSpec{protos: defProtos, ext: ext, port: ext}
	if proto != "" {
		m.protos = []string{proto}
	}
	if hasTarget {
		if m.host, m.port, err = parseTarget(tgt); err != nil {
			return mapSpec{}, fmt.Errorf("--map %q: %v", s, err)
		}
	}
	return m, nil
}

// normalizeListen accepts "8080", ":8080" or "host:8080". Port 0 asks the
// kernel for a free port (the relay prints which).
func normalizeListen(s string) (string, error) {
	if !strings.Contains(s, ":") {
		s = ":" + s
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("LISTEN %q: want [HOST]:PORT, e.g. :8080", s)
	}
	if p != "0" {
		if _, err := parsePort(p); err != nil {
			return "", fmt.Errorf("LISTEN %q: %v", s, err)
		}
	}
	if h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			return "", fmt.Errorf("LISTEN %q: HOST must be a local IP address", s)
		}
	}
	return net.JoinHostPort(h, p), nil
}

// checkTarget accepts "host:port"; host may be a name, which the relay
// resolves when it dials.
func checkTarget(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return fmt.Errorf("TARGET %q: want HOST:PORT, e.g. 192.168.1.5:80", s)
	}
	if _, err := parsePort(p); err != nil {
		return fmt.Errorf("TARGET %q: %v", s, err)
	}
	return nil
}

// parseRelaySpec reads "[tcp:|udp:]LISTEN=TARGET", e.g. ":8080=192.168.1.5:80"
// or "udp::27015=192.168.1.5:27015". Without a prefix, proto is "" and the
// caller decides (from --tcp/--udp).
func parseRelaySpec(s string) (relaySpec, error) {
	proto, rest := cutProto(s)
	l, t, ok := strings.Cut(rest, "=")
	if !ok {
		return relaySpec{}, fmt.Errorf("--relay %q: want [tcp:|udp:]LISTEN=TARGET, e.g. :8080=192.168.1.5:80", s)
	}
	listen, err := normalizeListen(l)
	if err != nil {
		return relaySpec{}, fmt.Errorf("--relay %q: %v", s, err)
	}
	if err := checkTarget(t); err != nil {
		return relaySpec{}, fmt.Errorf("--relay %q: %v", s, err)
	}
	return relaySpec{proto: proto, listen: listen, target: t}, nil
}

// itoa formats a port.
func itoa(p uint16) string { return strconv.Itoa(int(p)) }
