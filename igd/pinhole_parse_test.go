package igd

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// firewallActions indexes the actions for the fuzz target.
var firewallActions = []string{
	actionGetFirewallStatus, actionGetOutboundPinholeTimeout, actionAddPinhole,
	actionUpdatePinhole, actionDeletePinhole, actionGetPinholePackets, actionCheckPinholeWorking,
}

// FuzzParsePinholeResponse: whole replies to each firewall action (which
// picks it), through the SOAP parser and the action's typed extraction. None
// may panic; an accepted value must be what the router sent, read the way
// the extraction documents; a fault's message must be terminal-safe and
// bounded whatever the router wrote. Seeds in
// testdata/fuzz/FuzzParsePinholeResponse/ hold miniupnpd's and Orange
// igd2-for-linux's reply shapes.
func FuzzParsePinholeResponse(f *testing.F) {
	f.Add([]byte(okReply(fw, "AddPinhole", "UniqueID", "7").body), uint8(2))
	f.Add([]byte(okReply(fw, "GetFirewallStatus", "FirewallEnabled", "1", "InboundPinholeAllowed", "1").body), uint8(0))
	f.Add([]byte(faultReply(709, "NoPacketSent").body), uint8(6))
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		action := firewallActions[int(which)%len(firewallActions)]
		args, flt, err := parseSOAP(body, action)
		if err != nil {
			return
		}
		if flt != nil {
			if !flt.codeOK {
				return
			}
			e := newUPnPError(action, flt.code, flt.description)
			msg := e.Error()
			for _, r := range msg {
				if r != ' ' && !safetext.Printable(r) {
					t.Fatalf("Error() carries %U: %q", r, msg)
				}
			}
			if n := utf8.RuneCountInString(msg); n > 300 {
				t.Fatalf("Error() is %d runes", n)
			}
			if info, ok := firewallCodeInfo[flt.code]; ok && e.Unwrap() != info.err {
				t.Fatalf("%s fault %d unwraps to %v, want %v", action, flt.code, e.Unwrap(), info.err)
			}
			return
		}
		sent := func(name string) string {
			a, ok := args.get(name)
			if !ok {
				t.Fatalf("%s accepted without %s", action, name)
			}
			return strings.TrimSpace(a.value)
		}
		switch action {
		case actionGetFirewallStatus:
			if s, err := firewallStatusFields(args); err == nil {
				checkBool(t, sent("FirewallEnabled"), s.Enabled)
				checkBool(t, sent("InboundPinholeAllowed"), s.InboundPinholeAllowed)
			}
		case actionGetOutboundPinholeTimeout:
			if d, err := outboundTimeoutField(args); err == nil {
				checkNumber(t, sent("OutboundPinholeTimeout"), uint64(d.Seconds()), 1<<32-1)
			}
		case actionAddPinhole:
			if id, err := uniqueIDField(args); err == nil {
				checkNumber(t, sent("UniqueID"), uint64(id), 1<<16-1)
			}
		case actionGetPinholePackets:
			if n, err := pinholePacketsField(args); err == nil {
				checkNumber(t, sent("PinholePackets"), uint64(n), 1<<32-1)
			}
		case actionCheckPinholeWorking:
			if ok, err := isWorkingField(args); err == nil {
				checkBool(t, sent("IsWorking"), ok)
			}
		}
	})
}

// checkNumber: an accepted number is the decimal the router sent (leading
// zeros and a plus sign allowed) and within the type's range.
func checkNumber(t *testing.T, sent string, got, max uint64) {
	t.Helper()
	n, err := strconv.ParseUint(sent, 10, 64)
	if err != nil || n != got || n > max {
		t.Fatalf("accepted %q as %d", sent, got)
	}
}

// checkBool: an accepted boolean is one of the UPnP spellings.
func checkBool(t *testing.T, sent string, got bool) {
	t.Helper()
	switch strings.ToLower(sent) {
	case "1", "true", "yes":
		if got {
			return
		}
	case "0", "false", "no":
		if !got {
			return
		}
	}
	t.Fatalf("accepted %q as %v", sent, got)
}
