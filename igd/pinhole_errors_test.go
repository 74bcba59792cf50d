package igd

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// Every code a firewall action can answer: its name in Error(), and the
// sentinels it must (and must not) match.
func TestPinholeErrorCodes(t *testing.T) {
	cases := []struct {
		code   int
		action string // default AddPinhole
		name   string
		want   []error
	}{
		{401, "", "Invalid Action", []error{ErrUnsupported}}, // no IGD:2 (openwrt/routing#545)
		{402, "", "Invalid Args", []error{ErrInvalidArgs}},
		{501, "", "Action Failed", []error{ErrActionFailed}},
		{606, "", "Action not authorized", []error{ErrNotAuthorized, errs.NotAuthorized}},
		{701, "", "PinholeSpaceExhausted", []error{ErrPinholeSpaceExhausted, ErrNoResources, errs.NoResources}},
		{702, "", "FirewallDisabled", []error{ErrFirewallDisabled, errs.Refused}},
		{703, "", "InboundPinholeNotAllowed", []error{ErrInboundPinholeNotAllowed, ErrNotAuthorized, errs.NotAuthorized}},
		{704, "UpdatePinhole", "NoSuchEntry", []error{ErrNoSuchEntry, errs.NoSuchEntry}},
		{704, "DeletePinhole", "NoSuchEntry", []error{ErrNoSuchEntry, errs.NoSuchEntry}},
		{705, "", "ProtocolNotSupported", []error{ErrProtocolNotSupported, ErrUnsupported, errs.Unsupported}},
		{706, "", "InternalPortWildcardingNotAllowed", []error{ErrWildcardNotPermittedInIntPort, ErrInvalidArgs}},
		{707, "", "ProtocolWildcardingNotAllowed", []error{ErrProtocolWildcardNotAllowed, ErrInvalidArgs}},
		{708, "", "WildCardNotPermittedInSrcIP", []error{ErrWildcardNotPermittedInSrcIP, ErrInvalidArgs}},
		{709, "CheckPinholeWorking", "NoTrafficReceived", []error{ErrNoTrafficReceived}},
		{702, "GetOutboundPinholeTimeout", "FirewallDisabled", []error{ErrFirewallDisabled, errs.Refused}},
		{704, "GetPinholePackets", "NoSuchEntry", []error{ErrNoSuchEntry}},
		{799, "", "UPnP error", nil},
	}
	all := []error{ErrUnsupported, ErrInvalidArgs, ErrActionFailed, ErrNoResources, ErrNotAuthorized,
		ErrNoSuchEntry, ErrConflict, ErrOnlyPermanentLeases, ErrMalformed, ErrTimeout, ErrUnreachable,
		ErrPinholeSpaceExhausted, ErrFirewallDisabled, ErrInboundPinholeNotAllowed, ErrProtocolNotSupported,
		ErrProtocolWildcardNotAllowed, ErrNoTrafficReceived, ErrWildcardNotPermittedInSrcIP,
		ErrWildcardNotPermittedInIntPort, errs.Refused}
	ctx := context.Background()
	for _, tc := range cases {
		action := tc.action
		if action == "" {
			action = "AddPinhole"
		}
		t.Run(strconv.Itoa(tc.code)+"/"+action, func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return faultReply(tc.code, "router text") })
			c := f.client(ServiceWANIPv6Firewall1)
			var err error
			switch action {
			case "AddPinhole":
				_, err = c.AddPinhole(ctx, testPinhole)
			case "UpdatePinhole":
				err = c.UpdatePinhole(ctx, 1, MinPinholeLease)
			case "DeletePinhole":
				err = c.DeletePinhole(ctx, 1)
			case "CheckPinholeWorking":
				_, err = c.CheckPinholeWorking(ctx, 1)
			case "GetOutboundPinholeTimeout":
				_, err = c.GetOutboundPinholeTimeout(ctx, Pinhole{})
			case "GetPinholePackets":
				_, err = c.GetPinholePackets(ctx, 1)
			}
			var ue *UPnPError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v (%T), want *UPnPError", err, err)
			}
			if ue.Code != tc.code || ue.Action != action || ue.FailedAction() != action {
				t.Errorf("got %+v", *ue)
			}
			msg := err.Error()
			if want := "igd: " + action + ": " + strconv.Itoa(tc.code) + " " + tc.name; !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want prefix %q", msg, want)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = false", err, w)
				}
			}
			for _, other := range all {
				if errors.Is(err, other) && !matchesAny(other, tc.want) {
					t.Errorf("code %d also matches %v", tc.code, other)
				}
			}
		})
	}
}

// The 70x codes mean other things in WANIPConnection (704 is
// ConnectionSetupFailed there): from a port-mapping action they are not
// read as the firewall's.
func TestFirewallCodesStayWithFirewallActions(t *testing.T) {
	for _, code := range []int{701, 702, 703, 704, 705, 706, 707, 708, 709} {
		f := newFake(t, func(string, string) answer { return faultReply(code, "") })
		err := f.client(ServiceWANIP2).DeletePortMapping(context.Background(), "", 8080, TCP)
		var ue *UPnPError
		if !errors.As(err, &ue) || ue.Code != code {
			t.Fatalf("%d: got %v", code, err)
		}
		if ue.Unwrap() != nil {
			t.Errorf("%d from DeletePortMapping unwraps to %v, want nothing", code, ue.Unwrap())
		}
		if want := "igd: DeletePortMapping: " + strconv.Itoa(code) + " UPnP error"; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
	}
}

func TestFirewallErrorName(t *testing.T) {
	for code, want := range map[int]string{
		606: "Action not authorized", 701: "PinholeSpaceExhausted", 704: "NoSuchEntry",
		708: "WildCardNotPermittedInSrcIP", 709: "NoTrafficReceived", 718: "ConflictInMappingEntry", 799: "",
	} {
		if got := FirewallErrorName(code); got != want {
			t.Errorf("FirewallErrorName(%d) = %q, want %q", code, got, want)
		}
	}
	if got := ErrorName(704); got != "" {
		t.Errorf("ErrorName(704) = %q: the port-mapping table must not learn the firewall's codes", got)
	}
}
