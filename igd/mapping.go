package igd

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// PortMapping is one entry of the gateway's port-mapping table, as sent to
// AddPortMapping and returned by the Get… and List… calls.
type PortMapping struct {
	// RemoteHost restricts the mapping to one remote address; "" is the
	// wildcard (any remote host), which is what almost every caller wants.
	RemoteHost string
	// ExternalPort on the gateway's WAN side. AddPortMapping refuses 0 (a
	// wildcard meaning "all ports" on some routers); AddAnyPortMapping takes
	// 0 as "any port".
	ExternalPort uint16
	// Protocol is "TCP" or "UDP"; lower case is accepted and upper-cased.
	Protocol string
	// InternalPort on InternalClient.
	InternalPort uint16
	// InternalClient is the LAN host, normally an IP address literal. Under
	// IGD:2 and miniupnpd's secure mode it must be the caller's own address
	// (606 or 718 otherwise). Empty lets lenient routers use the caller's
	// address; strict ones answer 402.
	InternalClient string
	// Enabled must be true for the mapping to forward anything. The zero
	// value false asks the gateway for a disabled entry.
	Enabled bool
	// Description is free text shown in the router's UI. Routers truncate
	// it (miniupnpd keeps 63 bytes).
	Description string
	// LeaseDuration is the requested lifetime, sent in whole seconds
	// (rounded up). 0 means permanent under IGD:1 and "the maximum, 604800 s"
	// under IGD:2. Gateways may ignore or clamp it; renew by sending the same
	// AddPortMapping again.
	LeaseDuration time.Duration
}

// normalizeProtocol upper-cases p and checks it is TCP or UDP.
func normalizeProtocol(p string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case TCP:
		return TCP, nil
	case UDP:
		return UDP, nil
	}
	return "", fmt.Errorf("%w: protocol %q is neither TCP nor UDP", ErrInvalidArgs, p)
}

// leaseSeconds converts d to the ui4 seconds of NewLeaseDuration.
func leaseSeconds(d time.Duration) (string, error) {
	if d < 0 {
		return "", fmt.Errorf("%w: negative lease duration %v", ErrInvalidArgs, d)
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return "", fmt.Errorf("%w: lease duration %v too long", ErrInvalidArgs, d)
	}
	return strconv.FormatInt(int64(s), 10), nil
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func formatPort(p uint16) string { return strconv.FormatUint(uint64(p), 10) }

// mappingArgs returns the eight in-arguments shared by AddPortMapping and
// AddAnyPortMapping, in SCPD order.
func mappingArgs(m *PortMapping) ([]arg, error) {
	proto, err := normalizeProtocol(m.Protocol)
	if err != nil {
		return nil, err
	}
	lease, err := leaseSeconds(m.LeaseDuration)
	if err != nil {
		return nil, err
	}
	if m.InternalPort == 0 {
		return nil, fmt.Errorf("%w: internal port 0", ErrInvalidArgs)
	}
	return []arg{
		{"NewRemoteHost", m.RemoteHost},
		{"NewExternalPort", formatPort(m.ExternalPort)},
		{"NewProtocol", proto},
		{"NewInternalPort", formatPort(m.InternalPort)},
		{"NewInternalClient", m.InternalClient},
		{"NewEnabled", formatBool(m.Enabled)},
		{"NewPortMappingDescription", m.Description},
		{"NewLeaseDuration", lease},
	}, nil
}

// Value parsers for out-arguments. They trim surrounding white space
// (pretty-printed replies) and are otherwise strict.

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", truncate(s, 16))
	}
	return uint16(n), nil
}

func parseUI4Seconds(s string) (time.Duration, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", truncate(s, 16))
	}
	return time.Duration(n) * time.Second, nil
}

// parseBool accepts the UPnP boolean forms: 0/1, false/true, no/yes.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true, nil
	case "0", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q", truncate(s, 16))
}

func parseProtocol(s string) (string, error) {
	p, err := normalizeProtocol(s)
	if err != nil {
		return "", fmt.Errorf("bad protocol %q", truncate(s, 16))
	}
	return p, nil
}

// fieldSet extracts typed fields from named string values, remembering the
// first problem (a missing required field or a bad value).
type fieldSet struct {
	lookup func(name string) (string, bool)
	err    error
}

func (f *fieldSet) str(name string, required bool) string {
	v, ok := f.lookup(name)
	if !ok && required && f.err == nil {
		f.err = fmt.Errorf("missing %s", name)
	}
	return strings.TrimSpace(v)
}

// field parses the required field name with parse, keeping the first problem.
func field[T any](f *fieldSet, name string, parse func(string) (T, error)) T {
	var zero T
	if f.err != nil {
		return zero
	}
	v, ok := f.lookup(name)
	if !ok {
		f.err = fmt.Errorf("missing %s", name)
		return zero
	}
	x, err := parse(v)
	if err != nil {
		f.err = fmt.Errorf("%s: %w", name, err)
	}
	return x
}

func (f *fieldSet) port(name string) uint16           { return field(f, name, parsePort) }
func (f *fieldSet) proto(name string) string          { return field(f, name, parseProtocol) }
func (f *fieldSet) boolean(name string) bool          { return field(f, name, parseBool) }
func (f *fieldSet) seconds(name string) time.Duration { return field(f, name, parseUI4Seconds) }

func argFields(a outArgs) *fieldSet {
	return &fieldSet{lookup: func(name string) (string, bool) {
		x, ok := a.get(name)
		return x.value, ok
	}}
}
