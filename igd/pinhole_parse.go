package igd

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Out-argument extraction for the firewall actions. Each takes the parsed
// out-arguments of a successful reply and fails on a missing or malformed
// required one; the caller wraps the failure in a *ResponseError.

func firewallStatusFields(a outArgs) (FirewallStatus, error) {
	f := argFields(a)
	s := FirewallStatus{
		Enabled:               f.boolean("FirewallEnabled"),
		InboundPinholeAllowed: f.boolean("InboundPinholeAllowed"),
	}
	if f.err != nil {
		return FirewallStatus{}, f.err
	}
	return s, nil
}

func outboundTimeoutField(a outArgs) (time.Duration, error) {
	f := argFields(a)
	d := f.seconds("OutboundPinholeTimeout")
	return d, f.err
}

func uniqueIDField(a outArgs) (uint16, error) {
	f := argFields(a)
	id := field(f, "UniqueID", parseUI2)
	return id, f.err
}

func pinholePacketsField(a outArgs) (uint32, error) {
	f := argFields(a)
	n := field(f, "PinholePackets", parseUI4)
	return n, f.err
}

func isWorkingField(a outArgs) (bool, error) {
	f := argFields(a)
	ok := f.boolean("IsWorking")
	return ok, f.err
}

// parseUI2 parses a UPnP ui2 (0..65535), such as a UniqueID.
func parseUI2(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad ui2 %q", truncate(s, 16))
	}
	return uint16(n), nil
}

// parseUI4 parses a UPnP ui4 (0..4294967295), such as a packet count.
func parseUI4(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad ui4 %q", truncate(s, 16))
	}
	return uint32(n), nil
}
